/** Registry records (src/registry/types.ts) as the contract's messages, and the wire's stages back. */
import { invalidArgument } from '../core/errors.js';
import { type AuditEntry, type ModelVersion, type RegisteredModel, Stage } from '../gen/quiver/v1/registry.js';
import type { AuditRecord, ModelRecord, StageName, TensorSpecRecord, VersionRecord } from '../registry/types.js';
import { toWireDataType } from './convert.js';

const STAGE_TO_WIRE: Record<StageName, Stage> = {
  None: Stage.STAGE_NONE,
  Staging: Stage.STAGE_STAGING,
  Production: Stage.STAGE_PRODUCTION,
  Archived: Stage.STAGE_ARCHIVED,
};

export function stageFromWire(stage: Stage, field: string, required: boolean): StageName | undefined {
  for (const [name, wire] of Object.entries(STAGE_TO_WIRE)) if (wire === stage) return name as StageName;
  if (!required && stage === Stage.STAGE_UNSPECIFIED) return undefined;
  throw invalidArgument(`${field}: required, one of STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED`);
}

const spec = (t: TensorSpecRecord) => ({ name: t.name, datatype: toWireDataType(t.dtype), shape: t.dims === null ? [] : [...t.dims] });

export function toWireModel(m: ModelRecord): RegisteredModel {
  return {
    name: m.name,
    description: m.description,
    tags: new Map(Object.entries(m.tags)),
    createdAt: m.createdAt,
    updatedAt: m.updatedAt,
    aliases: new Map(Object.entries(m.aliases)),
    latestVersion: m.latestVersion,
  };
}

export function toWireVersion(v: VersionRecord): ModelVersion {
  return {
    modelName: v.modelName,
    version: v.version,
    stage: STAGE_TO_WIRE[v.stage],
    aliases: [...v.aliases],
    description: v.description,
    tags: new Map(Object.entries(v.tags)),
    sha256: v.sha256,
    sizeBytes: v.sizeBytes,
    inputs: v.signature.inputs.map(spec),
    outputs: v.signature.outputs.map(spec),
    featureNames: [...(v.signature.featureNames ?? [])],
    onnxMetadata: new Map(Object.entries(v.signature.onnxMetadata)),
    lineage: v.lineage,
    createdBy: v.createdBy,
    createdAt: v.createdAt,
  };
}

export function toWireAudit(a: AuditRecord): AuditEntry {
  return {
    id: a.id,
    at: a.at,
    actor: a.actor,
    action: a.action,
    modelName: a.modelName,
    version: a.version ?? 0,
    alias: a.alias ?? '',
    detail: JSON.stringify(a.detail),
  };
}
