/** quiver.v1.RegistryService: translates between the contract and the registry. */
import { once } from 'node:events';

import {
  type Metadata,
  type ServerReadableStream,
  type ServerWritableStream,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { invalidArgument } from '../core/errors.js';
import {
  type AuditEntry,
  type CreateVersionRequest,
  type CreateVersionResponse,
  type DownloadArtifactRequest,
  type DownloadArtifactResponse,
  type ModelVersion,
  type RegisteredModel,
  RegistryServiceService,
  Stage,
} from '../gen/quiver/v1/registry.js';
import type { SyncReport } from '../registry/follower.js';
import type { Registry } from '../registry/registry.js';
import type { AuditRecord, ModelRecord, StageName, TensorSpecRecord, VersionRecord } from '../registry/types.js';
import { ensureDecoded, type InflightCalls, toServiceError, unary } from './calls.js';
import { safely, type UndecodableRequest } from './codec.js';
import { toWireDataType } from './convert.js';

export const REGISTRY_SERVICE_NAME = 'quiver.v1.RegistryService';

const STAGE_TO_WIRE: Record<StageName, Stage> = {
  None: Stage.STAGE_NONE,
  Staging: Stage.STAGE_STAGING,
  Production: Stage.STAGE_PRODUCTION,
  Archived: Stage.STAGE_ARCHIVED,
};

function stageFromWire(stage: Stage, field: string, required: boolean): StageName | undefined {
  for (const [name, wire] of Object.entries(STAGE_TO_WIRE)) if (wire === stage) return name as StageName;
  if (!required && stage === Stage.STAGE_UNSPECIFIED) return undefined;
  throw invalidArgument(`${field}: required, one of STAGE_NONE, STAGE_STAGING, STAGE_PRODUCTION, STAGE_ARCHIVED`);
}

const CHUNK_BYTES = 1024 * 1024;

/** Who is acting, for the audit trail: the `quiver-actor` metadata (authentication comes later). */
export function actorOf(metadata: Metadata): string {
  const value = metadata.get('quiver-actor')[0];
  return typeof value === 'string' && value !== '' ? value.slice(0, 256) : 'anonymous';
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

function toWireAudit(a: AuditRecord): AuditEntry {
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

/** The generated definition with request decoders that never throw (bad bytes: INVALID_ARGUMENT). */
export function registryServiceDefinition() {
  const def: Record<string, object> = {};
  for (const [name, method] of Object.entries(RegistryServiceService)) {
    def[name] = { ...method, requestDeserialize: safely(method.requestDeserialize as (b: Buffer) => unknown) };
  }
  return def as typeof RegistryServiceService;
}

export interface RegistryServiceDeps {
  readonly registry: Registry;
  /** Re-reads the registry and reloads (all models when name is empty). */
  readonly reload: (modelName: string) => Promise<SyncReport>;
  /** Called when a call failed because the registry's store did not answer (UNAVAILABLE). */
  readonly onStoreUnavailable?: () => void;
}

function createVersion(deps: RegistryServiceDeps, log: Logger, calls: InflightCalls) {
  return (
    call: ServerReadableStream<CreateVersionRequest | UndecodableRequest, CreateVersionResponse>,
    callback: sendUnaryData<CreateVersionResponse>,
  ): void => {
    calls.enter();
    const reply: sendUnaryData<CreateVersionResponse> = (err, res) => {
      calls.leave();
      callback(err, res);
    };
    void (async () => {
      const messages = call[Symbol.asyncIterator]() as AsyncIterator<CreateVersionRequest | UndecodableRequest>;
      const first = await messages.next();
      if (first.done === true) throw invalidArgument('empty upload: send the metadata, then the file in chunks');
      const meta = ensureDecoded(first.value).metadata;
      if (meta === undefined) throw invalidArgument('metadata: the first message must carry the version metadata');
      async function* chunks(): AsyncGenerator<Uint8Array> {
        for (;;) {
          const next = await messages.next();
          if (next.done === true) return;
          const chunk = ensureDecoded(next.value).chunk;
          if (chunk === undefined) throw invalidArgument('chunk: after the metadata, every message must carry a chunk of the file');
          yield chunk;
        }
      }
      const version = await deps.registry.createVersion(
        {
          modelName: meta.modelName,
          description: meta.description,
          tags: Object.fromEntries(meta.tags),
          lineage: meta.lineage,
          expectedSha256: meta.expectedSha256,
        },
        chunks(),
        actorOf(call.metadata),
      );
      return { version: toWireVersion(version) };
    })().then(
      (res) => reply(null, res),
      (err: unknown) => reply(toServiceError(err, log, 'CreateVersion', call.metadata)),
    );
  };
}

function downloadArtifact(deps: RegistryServiceDeps, log: Logger, calls: InflightCalls) {
  return (call: ServerWritableStream<DownloadArtifactRequest | UndecodableRequest, DownloadArtifactResponse>): void => {
    calls.enter();
    void (async () => {
      const req = ensureDecoded(call.request);
      const { version, bytes } = await deps.registry.artifact(req.modelName, req.version);
      const write = async (msg: DownloadArtifactResponse): Promise<void> => {
        if (!call.write(msg)) await once(call, 'drain');
      };
      await write({ info: { sha256: version.sha256, sizeBytes: version.sizeBytes } });
      for (let offset = 0; offset < bytes.length && !call.cancelled; offset += CHUNK_BYTES) {
        await write({ chunk: bytes.subarray(offset, offset + CHUNK_BYTES) });
      }
      call.end();
    })()
      .catch((err: unknown) => call.emit('error', toServiceError(err, log, 'DownloadArtifact', call.metadata)))
      .finally(() => calls.leave());
  };
}

export function registryServiceHandlers(deps: RegistryServiceDeps, log: Logger, calls: InflightCalls): UntypedServiceImplementation {
  const handlers = registryHandlers(deps, log, calls);
  const onUnavailable = deps.onStoreUnavailable;
  if (onUnavailable === undefined) return handlers;
  // Unary and client-streaming answers: an UNAVAILABLE answer marks the store down at once.
  return Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [
      name,
      ((call: unknown, callback?: sendUnaryData<unknown>) =>
        (handler as (c: unknown, cb?: sendUnaryData<unknown>) => void)(
          call,
          callback === undefined
            ? undefined
            : (err, res) => {
                if (err?.code === status.UNAVAILABLE) onUnavailable();
                callback(err, res);
              },
        )) as UntypedHandleCall,
    ]),
  );
}

function registryHandlers(deps: RegistryServiceDeps, log: Logger, calls: InflightCalls): UntypedServiceImplementation {
  const { registry } = deps;
  return {
    createModel: unary<{ name: string; description: string; tags: Map<string, string> }, { model: RegisteredModel }>(
      'CreateModel',
      log,
      calls,
      async (req, _ctx, call) => ({
        model: toWireModel(await registry.createModel(req.name, req.description, Object.fromEntries(req.tags), actorOf(call.metadata))),
      }),
    ),
    getModel: unary<{ name: string }, { model: RegisteredModel }>('GetModel', log, calls, async (req) => ({
      model: toWireModel(await registry.getModel(req.name)),
    })),
    listRegisteredModels: unary<{ pageSize: number; pageToken: string }, { models: RegisteredModel[]; nextPageToken: string }>(
      'ListRegisteredModels',
      log,
      calls,
      async (req) => {
        const page = await registry.listModels(req.pageSize, req.pageToken);
        return { models: page.items.map(toWireModel), nextPageToken: page.nextPageToken };
      },
    ),
    updateModel: unary<{ name: string; description?: string; tags: Map<string, string> }, { model: RegisteredModel }>(
      'UpdateModel',
      log,
      calls,
      async (req, _ctx, call) => ({
        model: toWireModel(
          await registry.updateModel(
            req.name,
            { description: req.description, tags: Object.fromEntries(req.tags) },
            actorOf(call.metadata),
          ),
        ),
      }),
    ),
    createVersion: createVersion(deps, log, calls),
    getVersion: unary<{ modelName: string; version: string }, { version: ModelVersion }>('GetVersion', log, calls, async (req) => ({
      version: toWireVersion(await registry.resolveVersion(req.modelName, req.version)),
    })),
    listVersions: unary<
      { modelName: string; stage: Stage; pageSize: number; pageToken: string },
      { versions: ModelVersion[]; nextPageToken: string }
    >('ListVersions', log, calls, async (req) => {
      const page = await registry.listVersions(req.modelName, stageFromWire(req.stage, 'stage', false), req.pageSize, req.pageToken);
      return { versions: page.items.map(toWireVersion), nextPageToken: page.nextPageToken };
    }),
    updateVersion: unary<
      { modelName: string; version: number; description?: string; tags: Map<string, string> },
      { version: ModelVersion }
    >('UpdateVersion', log, calls, async (req, _ctx, call) => ({
      version: toWireVersion(
        await registry.updateVersion(
          req.modelName,
          req.version,
          { description: req.description, tags: Object.fromEntries(req.tags) },
          actorOf(call.metadata),
        ),
      ),
    })),
    deleteVersion: unary<{ modelName: string; version: number }, object>('DeleteVersion', log, calls, async (req, _ctx, call) => {
      await registry.deleteVersion(req.modelName, req.version, actorOf(call.metadata));
      return {};
    }),
    setAlias: unary<{ modelName: string; alias: string; version: number }, { version: ModelVersion }>(
      'SetAlias',
      log,
      calls,
      async (req, _ctx, call) => ({
        version: toWireVersion(await registry.setAlias(req.modelName, req.alias, req.version, actorOf(call.metadata))),
      }),
    ),
    deleteAlias: unary<{ modelName: string; alias: string }, object>('DeleteAlias', log, calls, async (req, _ctx, call) => {
      await registry.deleteAlias(req.modelName, req.alias, actorOf(call.metadata));
      return {};
    }),
    transitionStage: unary<
      { modelName: string; version: number; stage: Stage; archiveExisting: boolean; description?: string },
      { version: ModelVersion }
    >('TransitionStage', log, calls, async (req, _ctx, call) => ({
      version: toWireVersion(
        await registry.transitionStage(
          req.modelName,
          req.version,
          stageFromWire(req.stage, 'stage', true) as StageName,
          req.archiveExisting,
          req.description,
          actorOf(call.metadata),
        ),
      ),
    })),
    downloadArtifact: downloadArtifact(deps, log, calls),
    getAuditLog: unary<{ modelName: string; pageSize: number; pageToken: string }, { entries: AuditEntry[]; nextPageToken: string }>(
      'GetAuditLog',
      log,
      calls,
      async (req) => {
        const page = await registry.auditLog(req.modelName, req.pageSize, req.pageToken);
        return { entries: page.items.map(toWireAudit), nextPageToken: page.nextPageToken };
      },
    ),
    reloadModel: unary<{ modelName: string }, object>('ReloadModel', log, calls, async (req) => {
      if (req.modelName !== '') await registry.getModel(req.modelName);
      const report = await deps.reload(req.modelName);
      return {
        served: report.served.map((s) => ({ modelName: s.modelName, version: s.version, aliases: s.aliases, sha256: s.sha256 })),
        failures: report.failures.map((f) => ({ modelName: f.modelName, version: f.version, message: f.message })),
      };
    }),
  };
}
