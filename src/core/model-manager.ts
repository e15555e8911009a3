/**
 * The models a server holds: for each name, its loaded versions and its aliases. Loading
 * reads and hashes the artifact, derives the serving signature, warms the version up on the
 * workers, and only then publishes it. Unloading unpublishes first, drains the version's
 * queue and in-flight batches, and only then releases the sessions.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';

import type { Logger } from 'pino';

import type { BatchScheduler } from './batch-scheduler.js';
import type { BatchLimits } from './batch-types.js';
import { Batcher } from './batcher.js';
import { InlineRunner } from './inline-runner.js';
import { NOOP_OBSERVER, type ObserverFactory, type VersionObserver } from './observer.js';
import type { Lineage } from '../gen/quiver/v1/registry.js';
import { modelLoadFailed, modelNotFound, type QuiverError } from './errors.js';
import type { InferencePool } from './pool.js';
import { deriveSignature, type ServingSignature } from './signature.js';
import { allocate, elementCount, type HostTensor } from './tensor.js';
import { readOnnxModelInfo } from '../onnx/model-info.js';

export interface LoadedVersion {
  readonly name: string;
  readonly version: number;
  readonly path: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly signature: ServingSignature;
  readonly batcher: Batcher;
  readonly loadedAt: Date;
  /** "name version N", for messages. */
  readonly label: string;
  /** Where metrics, statistics and drift detection hear about this version. */
  readonly observer: VersionObserver;
  /** The registry's lineage, for versions served from the registry. */
  readonly lineage: Lineage | undefined;
}

interface ModelEntry {
  readonly versions: Map<number, LoadedVersion>;
  readonly aliases: Map<string, number>;
}

export interface ModelSummary {
  readonly name: string;
  readonly versions: readonly number[];
  readonly defaultVersion: number;
  readonly aliases: ReadonlyMap<string, number>;
}

/** A version that is not served because it failed to load (for /stats and GetStats). */
export interface LoadFailureInfo {
  readonly modelName: string;
  readonly version: number;
  /** Why its last load failed. */
  readonly reason: string;
  /** Load attempts that failed in a row. */
  readonly attempts: number;
  readonly failedAt: Date;
  /** When it may be tried again; null: never (its trial load failed, which is final). */
  readonly nextRetryAt: Date | null;
  /** Whether its trial load failed (now or as recorded in the registry). */
  readonly trialFailed: boolean;
}

/** Who knows why versions are not served (the registry follower). */
export interface LoadFailureSource {
  /**
   * The error to answer a request for this model and version spec (a number, an alias, '' for
   * the default) with, when what it names failed to load and is not retried now; else undefined.
   */
  explain(name: string, versionSpec: string): QuiverError | undefined;
  list(): LoadFailureInfo[];
}

/** The alias a model's default version follows when it is set (the registry's Production). */
export const DEFAULT_ALIAS = 'production';

function warmupInputs(sig: ServingSignature): HostTensor[] {
  return sig.inputs.map((spec) => {
    const dims = (spec.dims ?? [1]).map((d) => (d < 0 ? 1 : d));
    return { dtype: spec.dtype, dims, data: allocate(spec.dtype, elementCount(dims)) };
  });
}

/** Single-row rounds per worker at load: the first creates the session, the rest are timed. */
const WARMUP_ROUNDS = 5;

export class ModelManager {
  private readonly models = new Map<string, ModelEntry>();
  /** Makes every load's session key unique, even when the same bytes are loaded again. */
  private loads = 0;
  private failures: LoadFailureSource | undefined;

  constructor(
    private readonly pool: InferencePool,
    private readonly scheduler: BatchScheduler,
    private readonly limits: BatchLimits & {
      readonly inlineMaxUs: number;
      /** Per-model latency objectives (the latencyTargets option), over latencyTargetMs. */
      readonly latencyTargetByModel?: ReadonlyMap<string, number>;
    },
    private readonly log: Logger,
    private readonly observe: ObserverFactory = () => NOOP_OBSERVER,
    /** Told about every load attempt (for the model-load metrics). */
    private readonly onLoad: (name: string, ok: boolean) => void = () => undefined,
  ) {}

  /** Lets requests for versions that failed to load be answered with why (see resolve). */
  setLoadFailures(source: LoadFailureSource): void {
    this.failures = source;
  }

  /** The versions not served because they failed to load. */
  loadFailures(): LoadFailureInfo[] {
    return this.failures?.list() ?? [];
  }

  /**
   * Loads and warms up a version; it serves only once this resolves. Every attempt, failed or
   * not, is counted (the model-load metrics).
   * @param path the model file, or a function that readies it and resolves with its path
   *   (fetches and verifies a registry artifact, and has the registry admit the version: its
   *   trial gate); that function's failure is the load's failure, and nothing was loaded.
   * @param expectedSha256 when given (registry artifacts), the bytes read must hash to it,
   *   or the load fails: a corrupted artifact is never served.
   */
  async load(
    name: string,
    version: number,
    path: string | (() => Promise<string>),
    expectedSha256?: string,
    lineage?: Lineage,
  ): Promise<LoadedVersion> {
    try {
      const file = typeof path === 'string' ? path : await path();
      const loaded = await this.loadNow(name, version, file, expectedSha256, lineage);
      this.onLoad(name, true);
      return loaded;
    } catch (err) {
      this.onLoad(name, false);
      throw err;
    }
  }

  private async loadNow(
    name: string,
    version: number,
    path: string,
    expectedSha256: string | undefined,
    lineage: Lineage | undefined,
  ): Promise<LoadedVersion> {
    const absolute = resolvePath(path);
    const label = `model '${name}' version ${version}`;
    let bytes: Buffer;
    try {
      bytes = await readFile(absolute);
    } catch (err) {
      throw modelLoadFailed(`${label}: cannot read ${absolute}: ${(err as Error).message}`, err);
    }
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      throw modelLoadFailed(`${label}: artifact hash mismatch: expected ${expectedSha256}, the file hashes to ${sha256}`);
    }
    let signature: ServingSignature;
    try {
      signature = deriveSignature(readOnnxModelInfo(bytes));
    } catch (err) {
      throw modelLoadFailed(`${label}: ${(err as Error).message}`, err);
    }
    const key = `${name}/${version}/${sha256.slice(0, 16)}/${++this.loads}`;
    const observer = this.observe({ name, version, signature, ...(lineage === undefined ? {} : { lineage }) });
    const batcher = new Batcher({ key, path: absolute, label, signature, observer }, this.scheduler, {
      ...this.limits,
      latencyTargetMs: this.limits.latencyTargetByModel?.get(name) ?? this.limits.latencyTargetMs,
    });
    const loaded: LoadedVersion = Object.freeze({
      name,
      version,
      path: absolute,
      sha256,
      sizeBytes: bytes.byteLength,
      signature,
      batcher,
      loadedAt: new Date(),
      label,
      observer,
      lineage,
    });
    let runUs: number;
    try {
      runUs = await this.warmUp(loaded, key);
    } catch (err) {
      observer.close();
      throw err;
    }
    batcher.cost.prime(runUs);
    try {
      if (runUs <= this.limits.inlineMaxUs) batcher.setInline(InlineRunner.create(absolute, signature, runUs));
    } catch (err) {
      // The workers load it, so this cannot normally fail; serve without the inline lane.
      this.log.warn({ err, model: name, version }, 'inline lane unavailable');
    }
    const entry = this.models.get(name) ?? { versions: new Map(), aliases: new Map() };
    const previous = entry.versions.get(version);
    entry.versions.set(version, loaded);
    this.models.set(name, entry);
    this.log.info(
      { model: name, version, sha256, path: absolute, batchable: signature.batchable, inlineUs: batcher.inlineRunner?.runUs ?? null },
      'model version loaded',
    );
    if (previous !== undefined) await this.retire(previous);
    return loaded;
  }

  /**
   * Warm-up: one single-row batch per worker, at once, so every worker creates its session
   * now; then more rounds, timed inside the workers. Returns the fastest single-row run time
   * in µs (the inline lane's eligibility; measured in a worker, so a busy main thread during
   * a hot reload does not distort it). A session's first runs are slow (onnxruntime sizes
   * its buffers then): two rounds measured a 20 µs model at 190 µs, near the lane's limit.
   */
  private async warmUp(v: LoadedVersion, key: string): Promise<number> {
    let fastest = Infinity;
    for (let round = 0; round < WARMUP_ROUNDS; round++) {
      const runs = Array.from({ length: Math.max(1, this.pool.workers) }, () =>
        this.pool.run({
          key,
          path: v.path,
          inputs: warmupInputs(v.signature).map((t, i) => ({ name: (v.signature.inputs[i] as { name: string }).name, ...t })),
          outputNames: v.signature.outputs.map((o) => o.name),
        }),
      );
      const results = await Promise.allSettled(runs);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        this.pool.release(key);
        const reason = failed.reason as Error;
        throw modelLoadFailed(`${v.label}: onnxruntime could not load or run it: ${reason.message}`, reason);
      }
      for (const r of results) if (r.status === 'fulfilled') fastest = Math.min(fastest, r.value.runUs);
    }
    return fastest;
  }

  async unload(name: string, version: number): Promise<void> {
    const entry = this.models.get(name);
    const v = entry?.versions.get(version);
    if (entry === undefined || v === undefined) throw modelNotFound(`model '${name}' version ${version} is not loaded`);
    entry.versions.delete(version);
    for (const [alias, target] of entry.aliases) if (target === version) entry.aliases.delete(alias);
    if (entry.versions.size === 0) this.models.delete(name);
    await this.retire(v);
  }

  private async retire(v: LoadedVersion): Promise<void> {
    await v.batcher.drain();
    this.pool.release(v.batcher.spec.key);
    v.batcher.inlineRunner?.release();
    v.observer.close();
    this.log.info({ model: v.name, version: v.version }, 'model version released');
  }

  /** Replaces a model's alias map in one step (the swap that makes a promotion take effect). */
  setAliases(name: string, aliases: ReadonlyMap<string, number>): void {
    const entry = this.models.get(name);
    if (entry === undefined) return;
    for (const version of aliases.values()) {
      if (!entry.versions.has(version)) throw modelNotFound(`model '${name}' version ${version} is not loaded`);
    }
    entry.aliases.clear();
    for (const [alias, version] of aliases) entry.aliases.set(alias, version);
  }

  isLoaded(name: string, version: number): boolean {
    return this.models.get(name)?.versions.has(version) === true;
  }

  setAlias(name: string, alias: string, version: number): void {
    const entry = this.models.get(name);
    if (entry?.versions.has(version) !== true) throw modelNotFound(`model '${name}' version ${version} is not loaded`);
    entry.aliases.set(alias, version);
  }

  /**
   * Resolves a request's model name and version: empty = the default version (the
   * `production` alias when set, else the highest loaded), digits = that version, anything
   * else = an alias.
   */
  resolve(name: string, versionSpec: string): LoadedVersion {
    const entry = this.models.get(name);
    if (entry === undefined) {
      const failed = this.failures?.explain(name, versionSpec);
      if (failed !== undefined) throw failed;
      const available = [...this.models.keys()].sort();
      throw modelNotFound(`model '${name}' is not served; available: ${available.length === 0 ? '(none)' : available.join(', ')}`);
    }
    let version: number | undefined;
    if (versionSpec === '') version = this.defaultVersion(entry);
    else if (/^[0-9]+$/.test(versionSpec)) version = Number(versionSpec);
    else version = entry.aliases.get(versionSpec);
    const loaded = version === undefined ? undefined : entry.versions.get(version);
    if (loaded === undefined) {
      const failed = this.failures?.explain(name, versionSpec);
      if (failed !== undefined) throw failed;
      const versions = [...entry.versions.keys()].sort((a, b) => a - b).join(', ');
      const aliases = [...entry.aliases.keys()].sort().join(', ');
      throw modelNotFound(
        `model '${name}' has no version '${versionSpec}'; available versions: ${versions}${aliases === '' ? '' : `; aliases: ${aliases}`}`,
      );
    }
    return loaded;
  }

  private defaultVersion(entry: ModelEntry): number | undefined {
    const aliased = entry.aliases.get(DEFAULT_ALIAS);
    if (aliased !== undefined) return aliased;
    let max: number | undefined;
    for (const v of entry.versions.keys()) if (max === undefined || v > max) max = v;
    return max;
  }

  list(): ModelSummary[] {
    return [...this.models.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, entry]) => ({
        name,
        versions: [...entry.versions.keys()].sort((a, b) => a - b),
        defaultVersion: this.defaultVersion(entry) ?? 0,
        aliases: new Map(entry.aliases),
      }));
  }

  versionsOf(name: string): LoadedVersion[] {
    const entry = this.models.get(name);
    return entry === undefined ? [] : [...entry.versions.values()].sort((a, b) => a.version - b.version);
  }

  aliasesOf(name: string): ReadonlyMap<string, number> {
    return this.models.get(name)?.aliases ?? new Map();
  }

  get size(): number {
    return this.models.size;
  }

  /** Stops every batcher and waits for their queued and in-flight requests. */
  async drainAll(): Promise<void> {
    const all = [...this.models.values()].flatMap((e) => [...e.versions.values()]);
    await Promise.all(all.map((v) => v.batcher.drain()));
  }
}
