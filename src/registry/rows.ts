/**
 * The registry's rows as either driver returns them, read into records. The drivers differ in
 * types only: PostgreSQL returns JSONB parsed, booleans, Dates and BIGINTs as strings; SQLite
 * returns JSON text, 0/1, ISO-8601 text and numbers. Each column is read the same way from both.
 */
import { Evaluation, Lineage } from '../gen/quiver/v1/registry.js';
import { stageOf } from './records.js';
import type { AuditRecord, ModelRecord, SignatureRecord, TrialRecord, VersionRecord } from './types.js';

/** Every JSON column holds an object, so a string is JSON text still to parse (SQLite). */
const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(v as string));
const bool = (v: unknown): boolean => v === true || v === 1;

export interface ModelRow {
  name: string;
  description: string;
  tags: unknown;
  next_version: number;
  created_at: unknown;
  updated_at: unknown;
  /** The newest version's number (a subquery), null without versions. */
  latest: number | string | null;
}

export interface VersionRow {
  model_name: string;
  version: number;
  sha256: string;
  size_bytes: number | string;
  signature: unknown;
  lineage: unknown;
  description: string;
  tags: unknown;
  archived: unknown;
  created_by: string;
  created_at: unknown;
}

export interface AuditRow {
  id: number | string;
  at: unknown;
  actor: string;
  action: string;
  model_name: string;
  version: number | null;
  alias: string | null;
  detail: unknown;
}

export interface EvaluationRow {
  id: number | string;
  model_name: string;
  version: number;
  evaluation: unknown;
  created_by: string;
  created_at: unknown;
}

export interface TrialRow {
  model_name: string;
  version: number;
  sha256: string;
  outcome: 'passed' | 'failed';
  reason: string;
  at: unknown;
}

export const tagsOf = (row: { tags: unknown }): Record<string, string> => json(row.tags);

export function toModel(row: ModelRow, aliases: ReadonlyArray<{ alias: string; version: number }>): ModelRecord {
  return {
    name: row.name,
    description: row.description,
    tags: tagsOf(row),
    createdAt: date(row.created_at),
    updatedAt: date(row.updated_at),
    aliases: Object.fromEntries(aliases.map((a) => [a.alias, a.version])),
    latestVersion: Number(row.latest ?? 0),
  };
}

/** `aliases`: every alias that points at this version, sorted. */
export function toVersion(row: VersionRow, aliases: string[]): VersionRecord {
  const archived = bool(row.archived);
  return {
    modelName: row.model_name,
    version: row.version,
    sha256: row.sha256,
    sizeBytes: Number(row.size_bytes),
    signature: json<SignatureRecord>(row.signature),
    lineage: Lineage.fromJSON(json(row.lineage)),
    description: row.description,
    tags: tagsOf(row),
    archived,
    createdBy: row.created_by,
    createdAt: date(row.created_at),
    aliases,
    stage: stageOf(aliases, archived),
  };
}

export function toAudit(r: AuditRow): AuditRecord {
  return {
    id: Number(r.id),
    at: date(r.at),
    actor: r.actor,
    action: r.action,
    modelName: r.model_name,
    version: r.version,
    alias: r.alias,
    detail: json(r.detail),
  };
}

export function toTrial(r: TrialRow): TrialRecord {
  return { modelName: r.model_name, version: r.version, sha256: r.sha256, outcome: r.outcome, reason: r.reason, at: date(r.at) };
}

export function toEvaluation(r: EvaluationRow): Evaluation {
  return {
    ...Evaluation.fromJSON(json(r.evaluation)),
    id: Number(r.id),
    modelName: r.model_name,
    version: r.version,
    createdBy: r.created_by,
    createdAt: date(r.created_at),
  };
}
