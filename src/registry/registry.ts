/**
 * The registry: validation and the upload flow over a RegistryStore (metadata) and an
 * ArtifactStore (bytes). It emits `change` with the model name after every committed write,
 * so servers in this process follow at once (others poll the store's audit log). Before a
 * version becomes Production or Staging or gets an alias, and before a server loads it into
 * its own process (follower.ts: on demand, by alias, on reload, at start), it must pass a trial
 * load in a child process (trial.ts) unless trial loads are turned off. Trial outcomes are
 * recorded in the store, so other processes and later starts do not trial the same version
 * again; a recorded failure refuses the version even with trial loads off.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { invalidArgument, notFound, QuiverError, toQuiverError } from '../core/errors.js';
import { isModelName } from '../core/model-name.js';
import { deriveSignature, type ServingSignature } from '../core/signature.js';
import { Lineage } from '../gen/quiver/v1/registry.js';
import { readOnnxModelInfo } from '../onnx/model-info.js';
import { type ArtifactBackend, ArtifactStore } from './artifacts.js';
import { PgArtifactStore } from './pg-artifacts.js';
import { PgRegistryStore } from './pg-store.js';
import { SqliteRegistryStore } from './sqlite-store.js';
import { type TrialLimits, trialLoad } from './trial.js';
import {
  type AuditRecord,
  type ModelRecord,
  type Patch,
  type RegistryStore,
  type SignatureRecord,
  type StageName,
  type TrialRecord,
  type VersionRecord,
} from './types.js';

export interface RegistryOptions {
  readonly dataDir: string;
  /** The largest artifact accepted, bytes. */
  readonly maxUploadBytes: number;
  /** '' for the embedded registry (SQLite + a directory), or postgres://... for a shared one. */
  readonly url?: string;
  /** '' to keep artifacts with the registry (the directory, or PostgreSQL), or s3://bucket/prefix. */
  readonly artifactUrl?: string;
  /** For s3:// artifacts: the endpoint of an S3-compatible store ('' = AWS) and path-style addressing. */
  readonly s3Endpoint?: string;
  readonly s3ForcePathStyle?: boolean;
  /** Trial-load a version in a child process before it is promoted (default true). */
  readonly trialLoad?: boolean;
  /** The trial's wall-time limit, ms (default 30000). */
  readonly trialTimeoutMs?: number;
  /** The trial's resident-memory limit, MiB (default 2048). */
  readonly trialMaxMemoryMb?: number;
}

/** The registry's part of the server options. */
export const registryOptions = (o: {
  dataDir: string;
  maxUploadBytes: number;
  registryUrl: string;
  artifactUrl: string;
  s3Endpoint: string;
  s3ForcePathStyle: boolean;
  trialLoad: boolean;
  trialTimeoutMs: number;
  trialMaxMemoryMb: number;
}): RegistryOptions => ({
  dataDir: o.dataDir,
  maxUploadBytes: o.maxUploadBytes,
  url: o.registryUrl,
  artifactUrl: o.artifactUrl,
  s3Endpoint: o.s3Endpoint,
  s3ForcePathStyle: o.s3ForcePathStyle,
  trialLoad: o.trialLoad,
  trialTimeoutMs: o.trialTimeoutMs,
  trialMaxMemoryMb: o.trialMaxMemoryMb,
});

const trialLimits = (o: RegistryOptions): TrialLimits | undefined =>
  o.trialLoad === false ? undefined : { timeoutMs: o.trialTimeoutMs ?? 30_000, maxMemoryMb: o.trialMaxMemoryMb ?? 2048 };

/**
 * A version refused because its trial load failed, now or as recorded in the registry: final
 * for that version (its artifact never changes), so callers need not try again.
 */
export class TrialRefused extends QuiverError {
  constructor(
    message: string,
    readonly trial: TrialRecord,
  ) {
    super('QUIVER_ERR_MODEL_LOAD', message);
  }
}

export interface UploadMetadata {
  readonly modelName: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly lineage: Lineage | undefined;
  readonly expectedSha256: string;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken: string;
}

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
const MAX_TAGS = 64;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 4096;
const MAX_DESCRIPTION = 16 * 1024;

export function checkName(field: string, value: string): string {
  if (!isModelName(value)) {
    throw invalidArgument(
      `${field}: ${JSON.stringify(value)} is not a valid name; use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return value;
}

function checkTags(field: string, tags: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) throw invalidArgument(`${field}: at most ${MAX_TAGS} tags`);
  for (const [k, v] of entries) {
    if (k === '' || k.length > MAX_TAG_KEY) throw invalidArgument(`${field}: tag keys must be 1-${MAX_TAG_KEY} characters`);
    if (v.length > MAX_TAG_VALUE) throw invalidArgument(`${field}.${k}: tag values must be at most ${MAX_TAG_VALUE} characters`);
  }
  return { ...tags };
}

function checkDescription(field: string, d: string | undefined): string | undefined {
  if (d !== undefined && d.length > MAX_DESCRIPTION) throw invalidArgument(`${field}: at most ${MAX_DESCRIPTION} characters`);
  return d;
}

export function checkVersion(field: string, version: number): number {
  if (!Number.isInteger(version) || version < 1) throw invalidArgument(`${field}: ${version} is not a version number (1, 2, 3, ...)`);
  return version;
}

function pageSize(n: number): number {
  if (n < 0) throw invalidArgument('page_size: must not be negative');
  return n === 0 ? DEFAULT_PAGE : Math.min(n, MAX_PAGE);
}

function decodeToken<T>(token: string, fallback: T): T {
  if (token === '') return fallback;
  try {
    return (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a: T }).a;
  } catch {
    throw invalidArgument('page_token: not a token this server issued');
  }
}

const encodeToken = (after: unknown): string => Buffer.from(JSON.stringify({ a: after })).toString('base64url');

export function signatureRecord(sig: ServingSignature): SignatureRecord {
  return {
    inputs: sig.inputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims })),
    outputs: sig.outputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims })),
    featureNames: sig.featureNames,
    onnxMetadata: { ...sig.metadata },
  };
}

export class Registry extends EventEmitter<{ change: [model: string] }> {
  /** Admissions in progress by model, version and artifact, so concurrent callers share one trial. */
  private readonly trialRunning = new Map<string, Promise<void>>();
  private trialCount = 0;

  private constructor(
    readonly store: RegistryStore,
    readonly artifacts: ArtifactBackend,
    /** Undefined when trial loads are off. */
    private readonly trial: TrialLimits | undefined,
    /** Set for a shared (PostgreSQL) registry: hears of other processes' changes at once. */
    private readonly external?: (listener: (model: string) => void, onError: (err: Error) => void) => () => void,
  ) {
    super();
  }

  /**
   * Opens the registry: embedded (SQLite + an artifact directory under the data directory) by
   * default, PostgreSQL (metadata and chunked artifacts) when `url` is postgres://...
   */
  static async open(options: RegistryOptions): Promise<Registry> {
    const url = options.url ?? '';
    const artifactUrl = options.artifactUrl ?? '';
    // Absolute, so artifact paths (handed to trial-load children in another directory) stay valid.
    const dataDir = resolve(options.dataDir);
    const localDir = join(dataDir, 'artifacts');
    // The AWS SDK is loaded only when S3 is configured (it is large, and most users never need it).
    const s3 = async (): Promise<ArtifactBackend> =>
      new (await import('./s3-artifacts.js')).S3ArtifactStore(
        { url: artifactUrl, endpoint: options.s3Endpoint ?? '', forcePathStyle: options.s3ForcePathStyle ?? false },
        localDir,
        options.maxUploadBytes,
      );
    if (url === '') {
      const artifacts = artifactUrl === '' ? new ArtifactStore(localDir, options.maxUploadBytes) : await s3();
      await artifacts.open();
      return new Registry(new SqliteRegistryStore(join(dataDir, 'registry.db')), artifacts, trialLimits(options));
    }
    const store = await PgRegistryStore.open(url);
    const artifacts = artifactUrl === '' ? new PgArtifactStore(store, localDir, options.maxUploadBytes) : await s3();
    await artifacts.open();
    return new Registry(store, artifacts, trialLimits(options), (listener, onError) => store.subscribe(url, listener, onError));
  }

  /** Changes committed by other processes, as they commit (PostgreSQL only; SQLite is polled). */
  subscribeExternal(listener: (model: string) => void, onError: (err: Error) => void): (() => void) | undefined {
    return this.external?.(listener, onError);
  }

  async close(): Promise<void> {
    await this.artifacts.close();
    await this.store.close();
  }

  private changed(model: string): void {
    this.emit('change', model);
  }

  async createModel(name: string, description: string, tags: Readonly<Record<string, string>>, actor: string): Promise<ModelRecord> {
    const m = await this.store.createModel(
      checkName('name', name),
      checkDescription('description', description) ?? '',
      checkTags('tags', tags),
      actor,
    );
    this.changed(name);
    return m;
  }

  async getModel(name: string): Promise<ModelRecord> {
    const m = await this.store.getModel(checkName('name', name));
    if (m === undefined) throw notFound(`registered model '${name}' does not exist`);
    return m;
  }

  async listModels(size: number, token: string): Promise<Page<ModelRecord>> {
    const limit = pageSize(size);
    const items = await this.store.listModels(decodeToken(token, ''), limit);
    return { items, nextPageToken: items.length === limit ? encodeToken((items[items.length - 1] as ModelRecord).name) : '' };
  }

  async updateModel(name: string, patch: Patch, actor: string): Promise<ModelRecord> {
    const m = await this.store.updateModel(
      checkName('name', name),
      { description: checkDescription('description', patch.description), tags: checkTags('tags', patch.tags ?? {}) },
      actor,
    );
    this.changed(name);
    return m;
  }

  /**
   * The upload flow: stream to a temp file (hashing, size cap), parse the ONNX graph,
   * refuse external data and unservable signatures, move the bytes under their hash, then
   * record the version and its audit row in one transaction. Nothing is recorded unless
   * every step succeeded; a failure leaves no temp file behind.
   */
  async createVersion(meta: UploadMetadata, chunks: AsyncIterable<Uint8Array>, actor: string): Promise<VersionRecord> {
    checkName('metadata.model_name', meta.modelName);
    checkDescription('metadata.description', meta.description);
    const tags = checkTags('metadata.tags', meta.tags);
    if (meta.expectedSha256 !== '' && !/^[0-9a-f]{64}$/.test(meta.expectedSha256)) {
      throw invalidArgument('metadata.expected_sha256: must be 64 lowercase hex digits');
    }
    const upload = await this.artifacts.begin();
    let committed = false;
    try {
      for await (const chunk of chunks) await upload.write(chunk);
      const { sha256, sizeBytes } = await upload.finish();
      if (sizeBytes === 0) throw invalidArgument('the upload is empty: send the ONNX file after the metadata');
      if (meta.expectedSha256 !== '' && meta.expectedSha256 !== sha256) {
        throw invalidArgument(`the upload's sha256 is ${sha256}, not the expected ${meta.expectedSha256}: it was altered in transit`);
      }
      const bytes = await readFile(upload.tmpPath);
      let signature: ServingSignature;
      try {
        const info = readOnnxModelInfo(bytes);
        if (info.usesExternalData) {
          throw new Error('it uses external data (tensors stored in other files); upload a self-contained model');
        }
        signature = deriveSignature(info);
      } catch (err) {
        throw invalidArgument(`the artifact cannot be registered: ${(err as Error).message}`);
      }
      await this.artifacts.commit(upload, sha256);
      committed = true;
      try {
        const v = await this.store.createVersion(
          {
            modelName: meta.modelName,
            sha256,
            sizeBytes,
            signature: signatureRecord(signature),
            lineage: meta.lineage ?? Lineage.fromPartial({}),
            description: meta.description,
            tags,
          },
          actor,
        );
        this.changed(meta.modelName);
        return v;
      } catch (err) {
        // The bytes are stored but unrecorded: drop them unless another version uses them.
        if ((await this.store.artifactUsers(sha256).catch(() => 1)) === 0) await this.artifacts.remove(sha256);
        throw err;
      }
    } finally {
      if (!committed) await upload.abort();
    }
  }

  /** A version by number or alias. */
  async resolveVersion(name: string, spec: string): Promise<VersionRecord> {
    checkName('model_name', name);
    const model = await this.store.getModel(name);
    if (model === undefined) throw notFound(`registered model '${name}' does not exist`);
    let version: number | undefined;
    if (/^[0-9]+$/.test(spec)) version = Number(spec);
    else if (spec === '') throw invalidArgument('version: required (a number or an alias)');
    // The aliases are a plain record: only its own keys are aliases (not 'constructor', 'toString', ...).
    else version = Object.hasOwn(model.aliases, spec) ? model.aliases[spec] : undefined;
    const v = version === undefined ? undefined : await this.store.getVersion(name, version);
    if (v === undefined) {
      const aliases = Object.keys(model.aliases);
      throw notFound(
        `model '${name}' has no version '${spec}' (latest version ${model.latestVersion}${aliases.length > 0 ? `; aliases: ${aliases.join(', ')}` : ''})`,
      );
    }
    return v;
  }

  async listVersions(name: string, stage: StageName | undefined, size: number, token: string): Promise<Page<VersionRecord>> {
    const limit = pageSize(size);
    const items = await this.store.listVersions(checkName('model_name', name), stage, decodeToken(token, 0), limit);
    return { items, nextPageToken: items.length === limit ? encodeToken((items[items.length - 1] as VersionRecord).version) : '' };
  }

  async updateVersion(name: string, version: number, patch: Patch, actor: string): Promise<VersionRecord> {
    const v = await this.store.updateVersion(
      checkName('model_name', name),
      checkVersion('version', version),
      { description: checkDescription('description', patch.description), tags: checkTags('tags', patch.tags ?? {}) },
      actor,
    );
    this.changed(name);
    return v;
  }

  async deleteVersion(name: string, version: number, actor: string): Promise<void> {
    const v = await this.store.getVersion(checkName('model_name', name), checkVersion('version', version));
    await this.store.deleteVersion(name, version, actor);
    this.changed(name);
    if (v !== undefined && (await this.store.artifactUsers(v.sha256)) === 0) await this.artifacts.remove(v.sha256);
  }

  /** Trial processes this registry started (versions with a recorded trial start none). */
  get trialsRun(): number {
    return this.trialCount;
  }

  /**
   * Resolves once the version's artifact has passed a trial load; rejects with the trial's error
   * otherwise. A version that does not exist is left to the store's own call to report.
   */
  private async passTrial(name: string, version: number): Promise<void> {
    const v = await this.store.getVersion(name, version);
    if (v !== undefined) await this.admit(v);
  }

  /**
   * Whether a version may run in a server's process, by its recorded trial: a recorded failure
   * of this version refuses it at once (TrialRefused), trial loads on or off; a recorded pass of
   * its artifact (under this or any other version: the same bytes, the same fixed session
   * options) admits it. With nothing recorded, the trial runs now and its outcome is recorded,
   * unless trial loads are off, which admits the version untrialed. Rejects with TrialRefused
   * when the trial fails, and with the cause (UNAVAILABLE, a storage error), recording nothing,
   * when no verdict could be reached (no trial process, the artifact unreadable).
   */
  async admit(v: VersionRecord): Promise<void> {
    const key = `${v.modelName}/${v.version}/${v.sha256}`;
    let running = this.trialRunning.get(key);
    if (running === undefined) {
      running = this.admitNow(v).finally(() => this.trialRunning.delete(key));
      this.trialRunning.set(key, running);
    }
    await running;
  }

  /** The recorded trial of this version, if any (its artifact's pass under another version not included). */
  async recordedTrial(v: VersionRecord): Promise<TrialRecord | undefined> {
    return (await this.store.trialsOf(v.sha256)).find((r) => r.modelName === v.modelName && r.version === v.version);
  }

  private async admitNow(v: VersionRecord): Promise<void> {
    const recorded = await this.store.trialsOf(v.sha256);
    const own = recorded.find((r) => r.modelName === v.modelName && r.version === v.version);
    if (own?.outcome === 'failed') throw new TrialRefused(own.reason, own);
    if (recorded.some((r) => r.outcome === 'passed')) return;
    if (this.trial === undefined) return;
    await this.runTrial(v, this.trial);
  }

  private async runTrial(v: VersionRecord, limits: TrialLimits): Promise<void> {
    let path: string;
    try {
      path = await this.artifacts.localPath(v.sha256);
    } catch (err) {
      // A missing or corrupted artifact (or its store down) cannot be promoted either.
      const e = toQuiverError(err);
      throw new QuiverError(e.code, `trial load of model '${v.modelName}' version ${v.version}: ${e.message}`, { cause: err });
    }
    this.trialCount++;
    const outcome = (ok: boolean, reason: string): TrialRecord => ({
      modelName: v.modelName,
      version: v.version,
      sha256: v.sha256,
      outcome: ok ? 'passed' : 'failed',
      reason,
      at: new Date(),
    });
    try {
      await trialLoad(
        {
          model: v.modelName,
          version: v.version,
          path,
          inputs: v.signature.inputs,
          outputs: v.signature.outputs.map((o) => o.name),
        },
        limits,
      );
    } catch (err) {
      const e = toQuiverError(err);
      // UNAVAILABLE: no trial process could be started; that says nothing about the model.
      if (e.code !== 'QUIVER_ERR_MODEL_LOAD') throw e;
      const failed = outcome(false, e.message);
      // Unrecorded (the store down), the next admission trials again; the refusal stands either way.
      await this.store.recordTrial(failed).catch(() => undefined);
      throw new TrialRefused(e.message, failed);
    }
    await this.store.recordTrial(outcome(true, ''));
  }

  async setAlias(name: string, alias: string, version: number, actor: string): Promise<VersionRecord> {
    checkName('model_name', name);
    checkName('alias', alias);
    checkVersion('version', version);
    await this.passTrial(name, version);
    const v = await this.store.setAlias(name, alias, version, actor);
    this.changed(name);
    return v;
  }

  async deleteAlias(name: string, alias: string, actor: string): Promise<void> {
    await this.store.deleteAlias(checkName('model_name', name), checkName('alias', alias), actor);
    this.changed(name);
  }

  async transitionStage(
    name: string,
    version: number,
    stage: StageName,
    archiveExisting: boolean,
    description: string | undefined,
    actor: string,
  ): Promise<VersionRecord> {
    checkName('model_name', name);
    checkVersion('version', version);
    checkDescription('description', description);
    // Archived and None take a version out of service: only going into service needs a trial.
    if (stage === 'Production' || stage === 'Staging') await this.passTrial(name, version);
    const v = await this.store.transitionStage(name, version, stage, archiveExisting, description, actor);
    this.changed(name);
    return v;
  }

  /** A version's artifact, read and verified against its hash. */
  async artifact(name: string, spec: string): Promise<{ version: VersionRecord; bytes: Buffer }> {
    const version = await this.resolveVersion(name, spec);
    return { version, bytes: await this.artifacts.readVerified(version.sha256) };
  }

  async auditLog(modelName: string, size: number, token: string): Promise<Page<AuditRecord>> {
    if (modelName !== '') checkName('model_name', modelName);
    const limit = pageSize(size);
    const items = await this.store.audit(modelName, decodeToken(token, 0), limit);
    return { items, nextPageToken: items.length === limit ? encodeToken((items[items.length - 1] as AuditRecord).id) : '' };
  }
}
