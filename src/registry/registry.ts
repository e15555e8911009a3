/**
 * The registry: the upload flow and the registry's operations over a RegistryStore (metadata)
 * and an ArtifactStore (bytes), composed of the backend choice (open-store.ts), the checks on
 * requests (validation.ts) and the trial gate (trial-gate.ts). It emits `change` with the model
 * name after every committed write, so servers in this process follow at once (others poll the
 * store's audit log). Before a version becomes Production or Staging or gets an alias, and
 * before a server loads it into its own process (follower.ts: on demand, by alias, on reload,
 * at start), it must pass the trial gate.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';

import { invalidArgument, notFound } from '../core/errors.js';
import { deriveSignature, type ServingSignature } from '../core/signature.js';
import { type Evaluation, Lineage } from '../gen/quiver/v1/registry.js';
import { readOnnxModelInfo } from '../onnx/model-info.js';
import { PredictionStore } from '../feedback/prediction-store.js';
import { RolloutStore } from '../rollouts/rollout-store.js';
import type { ArtifactBackend } from './artifacts.js';
import { EvaluationStore } from './evaluation-store.js';
import { type ExternalChanges, openStores, type StoreOptions } from './open-store.js';
import type { TrialLimits } from './trial.js';
import { TrialGate, type TrialGateOptions, trialLimits } from './trial-gate.js';
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
import { checkDescription, checkName, checkSha256, checkTags, checkVersion, decodeToken, encodeToken, pageSize } from './validation.js';

export interface RegistryOptions extends StoreOptions, TrialGateOptions {}

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

export interface UploadMetadata {
  readonly modelName: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly lineage: Lineage | undefined;
  readonly expectedSha256: string;
  /** In process only (quiver train): an evaluation recorded with the version, atomically. */
  readonly evaluation?: Evaluation;
}

export interface Page<T> {
  readonly items: T[];
  readonly nextPageToken: string;
}

export function signatureRecord(sig: ServingSignature): SignatureRecord {
  return {
    inputs: sig.inputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims })),
    outputs: sig.outputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims })),
    featureNames: sig.featureNames,
    onnxMetadata: { ...sig.metadata },
  };
}

export class Registry extends EventEmitter<{ change: [model: string] }> {
  private readonly gate: TrialGate;

  private constructor(
    readonly store: RegistryStore,
    readonly artifacts: ArtifactBackend,
    /** The prediction log's table, in the same database. */
    readonly predictions: PredictionStore,
    /** The rollouts, in the same database. */
    readonly rollouts: RolloutStore,
    /** The versions' evaluations, in the same database. */
    private readonly evaluationStore: EvaluationStore,
    /** Undefined when trial loads are off. */
    trial: TrialLimits | undefined,
    /** Set for a shared (PostgreSQL) registry: hears of other processes' changes at once. */
    private readonly external?: ExternalChanges,
  ) {
    super();
    this.gate = new TrialGate(store, artifacts, trial);
  }

  /**
   * Opens the registry: embedded (SQLite + an artifact directory under the data directory) by
   * default, PostgreSQL (metadata and chunked artifacts) when `url` is postgres://...
   */
  static async open(options: RegistryOptions): Promise<Registry> {
    const { store, storage, sqlitePath, artifacts, external } = await openStores(options);
    return new Registry(
      store,
      artifacts,
      new PredictionStore(storage, sqlitePath),
      new RolloutStore(storage),
      new EvaluationStore(storage),
      trialLimits(options),
      external,
    );
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
    checkSha256('metadata.expected_sha256', meta.expectedSha256);
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
            ...(meta.evaluation === undefined ? {} : { evaluation: meta.evaluation }),
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

  /** Records an evaluation of a version on labelled data (quiver train's holdout, quiver evaluate's test set). */
  addEvaluation(name: string, version: number, evaluation: Evaluation, actor: string): Promise<Evaluation> {
    return this.evaluationStore.add(checkName('model_name', name), checkVersion('version', version), evaluation, actor);
  }

  /** A version's evaluations, newest first; `spec` is a version number or an alias. */
  async evaluations(name: string, spec: string): Promise<Evaluation[]> {
    const v = await this.resolveVersion(name, spec);
    return this.evaluationStore.list(v.modelName, v.version);
  }

  async deleteVersion(name: string, version: number, actor: string): Promise<void> {
    const v = await this.store.getVersion(checkName('model_name', name), checkVersion('version', version));
    await this.store.deleteVersion(name, version, actor);
    this.changed(name);
    if (v !== undefined && (await this.store.artifactUsers(v.sha256)) === 0) await this.artifacts.remove(v.sha256);
  }

  /** Trial processes this registry started (versions with a recorded trial start none). */
  get trialsRun(): number {
    return this.gate.trialsRun;
  }

  /**
   * Resolves once the version's artifact has passed a trial load; rejects with the trial's error
   * otherwise. A version that does not exist is left to the store's own call to report.
   */
  private async passTrial(name: string, version: number): Promise<void> {
    const v = await this.store.getVersion(name, version);
    if (v !== undefined) await this.admit(v);
  }

  /** Whether a version may run in a server's process: TrialGate.admit. */
  async admit(v: VersionRecord): Promise<void> {
    await this.gate.admit(v);
  }

  /** The recorded trial of this version, if any (its artifact's pass under another version not included). */
  async recordedTrial(v: VersionRecord): Promise<TrialRecord | undefined> {
    return this.gate.recordedTrial(v);
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

  async auditLog(modelName: string, size: number, token: string, newestFirst = false): Promise<Page<AuditRecord>> {
    if (modelName !== '') checkName('model_name', modelName);
    const limit = pageSize(size);
    const items = await this.store.audit(modelName, decodeToken(token, 0), limit, newestFirst);
    return { items, nextPageToken: items.length === limit ? encodeToken((items[items.length - 1] as AuditRecord).id) : '' };
  }
}
