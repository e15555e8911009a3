/**
 * quiver.v1.RegistryService, once for every transport: gRPC (src/grpc/registry.ts) and REST
 * (the gateway's transcoded bindings) call these same functions. The acting principal (the
 * audit trail's actor) comes from the call context.
 */
import { ensureDecoded, type UndecodableRequest } from '../contract/codec.js';
import { stageFromWire, toWireAudit, toWireModel, toWireVersion } from '../contract/registry-messages.js';
import type { CallContext } from '../core/context.js';
import { invalidArgument, toQuiverError } from '../core/errors.js';
import type {
  AuditEntry,
  CreateVersionRequest,
  CreateVersionResponse,
  DeleteAliasRequest,
  DeleteVersionRequest,
  DownloadArtifactRequest,
  DownloadArtifactResponse,
  GetAuditLogRequest,
  Evaluation,
  ListEvaluationsRequest,
  GetModelRequest,
  GetVersionRequest,
  ListRegisteredModelsRequest,
  ListVersionsRequest,
  ModelVersion,
  RegisteredModel,
  ReloadModelRequest,
  ReloadModelResponse,
  SetAliasRequest,
  TransitionStageRequest,
  UpdateModelRequest,
  UpdateVersionRequest,
  CreateModelRequest,
  AbortRolloutRequest,
  GetRolloutRequest,
  ListRolloutsRequest,
  PromoteRolloutRequest,
  Rollout,
  StartRolloutRequest,
} from '../gen/quiver/v1/registry.js';
import { startInputOf, toWireRollout } from '../contract/rollout-messages.js';
import { abortNow, disagreementRatio, promoteNow, rolloutOf, startRollout } from '../rollouts/rollouts.js';
import type { RolloutRecord } from '../rollouts/types.js';
import type { SyncReport } from '../registry/follower.js';
import type { Registry } from '../registry/registry.js';
import type { StageName } from '../registry/types.js';
import type { ClientStreamHandler, ServerStreamHandler, UnaryHandler } from './handler.js';

const CHUNK_BYTES = 1024 * 1024;

/** gRPC's UNAVAILABLE: the registry's store did not answer. */
const UNAVAILABLE = 14;

export interface RegistryServiceDeps {
  readonly registry: Registry;
  /** Re-reads the registry and reloads (all models when name is empty). */
  readonly reload: (modelName: string) => Promise<SyncReport>;
  /** Called when a call failed because the registry's store did not answer (UNAVAILABLE). */
  readonly onStoreUnavailable?: () => void;
}

type Page<K extends string, T> = { readonly [key in K]: T[] } & { readonly nextPageToken: string };

export interface RegistryHandlers {
  readonly createModel: UnaryHandler<CreateModelRequest, { model: RegisteredModel }>;
  readonly getModel: UnaryHandler<GetModelRequest, { model: RegisteredModel }>;
  readonly listRegisteredModels: UnaryHandler<ListRegisteredModelsRequest, Page<'models', RegisteredModel>>;
  readonly updateModel: UnaryHandler<UpdateModelRequest, { model: RegisteredModel }>;
  readonly createVersion: ClientStreamHandler<CreateVersionRequest | UndecodableRequest, CreateVersionResponse>;
  readonly getVersion: UnaryHandler<GetVersionRequest, { version: ModelVersion }>;
  readonly listVersions: UnaryHandler<ListVersionsRequest, Page<'versions', ModelVersion>>;
  readonly updateVersion: UnaryHandler<UpdateVersionRequest, { version: ModelVersion }>;
  readonly deleteVersion: UnaryHandler<DeleteVersionRequest, object>;
  readonly setAlias: UnaryHandler<SetAliasRequest, { version: ModelVersion }>;
  readonly deleteAlias: UnaryHandler<DeleteAliasRequest, object>;
  readonly transitionStage: UnaryHandler<TransitionStageRequest, { version: ModelVersion }>;
  readonly downloadArtifact: ServerStreamHandler<DownloadArtifactRequest, DownloadArtifactResponse>;
  readonly getAuditLog: UnaryHandler<GetAuditLogRequest, Page<'entries', AuditEntry>>;
  readonly listEvaluations: UnaryHandler<ListEvaluationsRequest, { evaluations: Evaluation[] }>;
  readonly reloadModel: UnaryHandler<ReloadModelRequest, ReloadModelResponse>;
  readonly startRollout: UnaryHandler<StartRolloutRequest, { rollout: Rollout }>;
  readonly getRollout: UnaryHandler<GetRolloutRequest, { rollout: Rollout }>;
  readonly listRollouts: UnaryHandler<ListRolloutsRequest, { rollouts: Rollout[] }>;
  readonly promoteRollout: UnaryHandler<PromoteRolloutRequest, { rollout: Rollout }>;
  readonly abortRollout: UnaryHandler<AbortRolloutRequest, { rollout: Rollout }>;
}

/**
 * Who is acting, for the audit trail: the authenticated principal, else the caller's
 * `quiver-actor` metadata (only where no token is needed), else anonymous.
 */
export function actorOf(ctx: CallContext): string {
  if (ctx.principal !== undefined) return ctx.principal.name;
  const value = ctx.metadata.get('quiver-actor');
  return value !== undefined && value !== '' ? value.slice(0, 256) : 'anonymous';
}

async function createVersion(
  registry: Registry,
  requests: AsyncIterable<CreateVersionRequest | UndecodableRequest>,
  ctx: CallContext,
): Promise<CreateVersionResponse> {
  const messages = requests[Symbol.asyncIterator]();
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
  const version = await registry.createVersion(
    {
      modelName: meta.modelName,
      description: meta.description,
      tags: Object.fromEntries(meta.tags),
      lineage: meta.lineage,
      expectedSha256: meta.expectedSha256,
    },
    chunks(),
    actorOf(ctx),
  );
  return { version: toWireVersion(version) };
}

async function* downloadArtifact(
  registry: Registry,
  req: DownloadArtifactRequest,
  ctx: CallContext,
): AsyncGenerator<DownloadArtifactResponse> {
  const { version, bytes } = await registry.artifact(req.modelName, req.version);
  yield { info: { sha256: version.sha256, sizeBytes: version.sizeBytes } };
  for (let offset = 0; offset < bytes.length && !ctx.cancelled; offset += CHUNK_BYTES) {
    yield { chunk: bytes.subarray(offset, offset + CHUNK_BYTES) };
  }
}

export function registryHandlers(deps: RegistryServiceDeps): RegistryHandlers {
  const { registry } = deps;
  const handlers: RegistryHandlers = {
    createModel: async (req, ctx) => ({
      model: toWireModel(await registry.createModel(req.name, req.description, Object.fromEntries(req.tags), actorOf(ctx))),
    }),
    getModel: async (req) => ({ model: toWireModel(await registry.getModel(req.name)) }),
    listRegisteredModels: async (req) => {
      const page = await registry.listModels(req.pageSize, req.pageToken);
      return { models: page.items.map(toWireModel), nextPageToken: page.nextPageToken };
    },
    updateModel: async (req, ctx) => ({
      model: toWireModel(
        await registry.updateModel(req.name, { description: req.description, tags: Object.fromEntries(req.tags) }, actorOf(ctx)),
      ),
    }),
    createVersion: (requests, ctx) => createVersion(registry, requests, ctx),
    getVersion: async (req) => ({ version: toWireVersion(await registry.resolveVersion(req.modelName, req.version)) }),
    listVersions: async (req) => {
      const page = await registry.listVersions(req.modelName, stageFromWire(req.stage, 'stage', false), req.pageSize, req.pageToken);
      return { versions: page.items.map(toWireVersion), nextPageToken: page.nextPageToken };
    },
    updateVersion: async (req, ctx) => ({
      version: toWireVersion(
        await registry.updateVersion(
          req.modelName,
          req.version,
          { description: req.description, tags: Object.fromEntries(req.tags) },
          actorOf(ctx),
        ),
      ),
    }),
    deleteVersion: async (req, ctx) => {
      await registry.deleteVersion(req.modelName, req.version, actorOf(ctx));
      return {};
    },
    setAlias: async (req, ctx) => ({
      version: toWireVersion(await registry.setAlias(req.modelName, req.alias, req.version, actorOf(ctx))),
    }),
    deleteAlias: async (req, ctx) => {
      await registry.deleteAlias(req.modelName, req.alias, actorOf(ctx));
      return {};
    },
    transitionStage: async (req, ctx) => ({
      version: toWireVersion(
        await registry.transitionStage(
          req.modelName,
          req.version,
          stageFromWire(req.stage, 'stage', true) as StageName,
          req.archiveExisting,
          req.description,
          actorOf(ctx),
        ),
      ),
    }),
    downloadArtifact: (req, ctx) => downloadArtifact(registry, req, ctx),
    getAuditLog: async (req) => {
      const page = await registry.auditLog(req.modelName, req.pageSize, req.pageToken, req.newestFirst);
      return { entries: page.items.map(toWireAudit), nextPageToken: page.nextPageToken };
    },
    listEvaluations: async (req) => ({ evaluations: await registry.evaluations(req.modelName, req.version) }),
    startRollout: async (req, ctx) => ({
      rollout: await wireRollout(registry, await startRollout(registry, startInputOf(req), actorOf(ctx))),
    }),
    getRollout: async (req) => ({ rollout: await wireRollout(registry, await rolloutOf(registry, req.modelName)) }),
    listRollouts: async () => ({
      rollouts: await Promise.all((await registry.rollouts.newestOfEachModel()).map((r) => wireRollout(registry, r))),
    }),
    promoteRollout: async (req, ctx) => ({ rollout: await wireRollout(registry, await promoteNow(registry, req.modelName, actorOf(ctx))) }),
    abortRollout: async (req, ctx) => ({ rollout: await wireRollout(registry, await abortNow(registry, req.modelName, actorOf(ctx))) }),
    reloadModel: async (req) => {
      if (req.modelName !== '') await registry.getModel(req.modelName);
      const report = await deps.reload(req.modelName);
      return {
        served: report.served.map((s) => ({ modelName: s.modelName, version: s.version, aliases: s.aliases, sha256: s.sha256 })),
        failures: report.failures.map((f) => ({ modelName: f.modelName, version: f.version, message: f.message })),
      };
    },
  };
  return deps.onStoreUnavailable === undefined ? handlers : markingUnavailable(handlers, deps.onStoreUnavailable);
}

/** A rollout as the contract shows it, with the shadow disagreement summed over every replica's tally. */
const wireRollout = async (registry: Registry, r: RolloutRecord): Promise<Rollout> =>
  toWireRollout(r, await disagreementRatio(registry, r));

/** The handlers with their UNAVAILABLE answers (the store did not answer) reported at once. */
function markingUnavailable(handlers: RegistryHandlers, onUnavailable: () => void): RegistryHandlers {
  const check = (err: unknown): never => {
    if (toQuiverError(err).grpcStatus === UNAVAILABLE) onUnavailable();
    throw err;
  };
  const wrapped: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(handlers) as Array<[string, (...args: never[]) => unknown]>) {
    wrapped[name] =
      name === 'downloadArtifact'
        ? handler
        : (...args: never[]) =>
            Promise.resolve()
              .then(() => handler(...args))
              .catch(check);
  }
  return wrapped as unknown as RegistryHandlers;
}
