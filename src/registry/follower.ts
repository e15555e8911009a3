/**
 * Serving follows the registry. For every registered model this server loads the versions
 * its aliases (the stages' `production` and `staging` included) point at, and swaps the
 * alias map atomically once they are warm; versions no alias needs any more are drained
 * and released. A request for a version by number loads it on demand. Nothing is loaded into
 * this process before the registry admits it (Registry.admit: a passed trial load, recorded
 * in the registry). A version that fails to load (a failed trial, a corrupted artifact, an
 * onnxruntime error) is logged and reported, the alias keeps pointing at what was serving
 * before, and requests for it are answered with why: a failed trial is final for the version;
 * other failures are retried with exponential backoff (1 s doubling to 5 min), never once per
 * request.
 *
 * A model's running rollout (src/rollouts/) loads its baseline and candidate too, and is handed
 * to the rollout engine after each sync, so every replica applies the registry's split.
 *
 * It hears of changes from this process's registry at once (`change` events) and from other
 * processes sharing the store through a poll of the audit log.
 */
import type { Logger } from 'pino';

import { clientText, type ErrorCode, QuiverError, toQuiverError } from '../core/errors.js';
import { DEFAULT_ALIAS, type LoadFailureInfo, type LoadFailureSource, type ModelManager } from '../core/model-manager.js';
import type { Registry } from './registry.js';
import { TrialRefused } from './trial-gate.js';
import { CATCH_UP } from './types.js';
import type { RolloutRecord } from '../rollouts/types.js';

export interface LoadFailure {
  readonly modelName: string;
  readonly version: number;
  readonly message: string;
  /** When the last attempt failed. */
  readonly at: Date;
  /** Attempts that failed in a row. */
  readonly attempts: number;
  /** The failure's code, for the answers to requests that name the version. */
  readonly code: ErrorCode;
  readonly trialFailed: boolean;
}

/** Backoff after a failed load: 1 s, doubling per failure in a row, at most 5 min. */
export const RETRY_BACKOFF = { baseMs: 1000, maxMs: 5 * 60_000 } as const;

export interface SyncReport {
  readonly served: Array<{ modelName: string; version: number; aliases: string[]; sha256: string }>;
  readonly failures: LoadFailure[];
}

/** Versions loaded on demand (by number) kept per model, beyond the aliased ones. */
const ON_DEMAND_PER_MODEL = 4;

export class RegistryFollower implements LoadFailureSource {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** By `name@version`: versions whose last load failed. */
  private readonly failures = new Map<string, LoadFailure>();
  /** Loads in progress by `name@version`, so concurrent callers share one. */
  private readonly loading = new Map<string, Promise<boolean>>();
  /** Per model, the registry's aliases whose version failed to load at the last sync. */
  private readonly failedAliases = new Map<string, Map<string, number>>();
  /** Versions loaded by number, most recently used last. */
  private readonly onDemand = new Map<string, number[]>();
  private lastAuditId = 0;
  private onRollout: (model: string, rollout: RolloutRecord | undefined) => Promise<void> = async () => undefined;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private polling = false;
  private stopped = false;
  /** The backoff between attempts to load a version that failed (tests change it). */
  readonly retry: { baseMs: number; maxMs: number } = { ...RETRY_BACKOFF };
  /** Counters for metrics: loads that succeeded and failed. */
  readonly stats = { loads: 0, loadFailures: 0, syncs: 0 };

  constructor(
    private readonly registry: Registry,
    private readonly models: ModelManager,
    private readonly log: Logger,
    private readonly pollMs: number,
    /** Told whether the registry's store answers (each poll; and at once when a call finds it down). */
    private readonly onStoreHealth: (ok: boolean) => void = () => undefined,
  ) {
    models.setLoadFailures(this);
  }

  private readonly onChange = (model: string): void => {
    // The notification channel (re)connected, and changes may have been missed meanwhile.
    if (model === CATCH_UP) void this.poll();
    else
      this.sync(model).catch((err: unknown) => this.log.warn({ err, model }, 'registry sync failed; the next change or poll tries again'));
  };

  /** Loads what the registry says, then follows it. */
  async start(): Promise<SyncReport> {
    this.lastAuditId = (await this.registry.store.changesSince(Number.MAX_SAFE_INTEGER)).lastId;
    const report = await this.syncAll();
    this.registry.on('change', this.onChange);
    // Other replicas' changes: LISTEN/NOTIFY when the registry is shared; the poll is the safety net.
    this.unsubscribe = this.registry.subscribeExternal(this.onChange, (err) =>
      this.log.warn({ err }, 'registry notifications interrupted; reconnecting'),
    );
    if (this.pollMs > 0) this.schedulePoll();
    return report;
  }

  stop(): void {
    this.stopped = true;
    this.registry.off('change', this.onChange);
    this.unsubscribe?.();
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private schedulePoll(): void {
    this.timer = setTimeout(() => {
      void this.poll().finally(() => {
        if (!this.stopped) this.schedulePoll();
      });
    }, this.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const { lastId, models } = await this.registry.store.changesSince(this.lastAuditId);
      this.onStoreHealth(true);
      this.lastAuditId = lastId;
      await Promise.all(models.map((m) => this.sync(m)));
    } catch (err) {
      this.onStoreHealth(false);
      this.log.warn({ err }, 'registry poll failed; serving what is loaded');
    } finally {
      this.polling = false;
    }
  }

  /** Re-reads every registered model (the blueprint's /reload-model). */
  async syncAll(): Promise<SyncReport> {
    const names: string[] = [];
    for (let token = '', first = true; first || token !== ''; first = false) {
      const page = await this.registry.listModels(1000, token);
      names.push(...page.items.map((m) => m.name));
      token = page.nextPageToken;
    }
    const reports = await Promise.all(names.map((n) => this.sync(n)));
    return { served: reports.flatMap((r) => r.served), failures: reports.flatMap((r) => r.failures) };
  }

  /** Brings one model in line with the registry; calls for one model run one at a time. */
  sync(name: string): Promise<SyncReport> {
    const run = (this.chains.get(name) ?? Promise.resolve()).then(() => this.syncNow(name));
    this.chains.set(
      name,
      run.catch(() => undefined),
    );
    return run;
  }

  private async syncNow(name: string): Promise<SyncReport> {
    this.stats.syncs++;
    const model = await this.registry.store.getModel(name);
    const wanted = new Map<number, string[]>();
    for (const [alias, version] of Object.entries(model?.aliases ?? {})) wanted.set(version, [...(wanted.get(version) ?? []), alias]);
    // A running rollout's two versions are served too (the candidate under no alias).
    const rollout = model === undefined ? undefined : await this.registry.rollouts.running(name);
    for (const v of rollout === undefined ? [] : [rollout.baselineVersion, rollout.candidateVersion]) if (!wanted.has(v)) wanted.set(v, []);
    const aliases = new Map<string, number>();
    const failedAliases = new Map<string, number>();
    const keepAliases = this.models.aliasesOf(name);
    for (const [version, names] of wanted) {
      const ok = await this.ensureLoaded(name, version);
      for (const alias of names) {
        if (ok) aliases.set(alias, version);
        else {
          failedAliases.set(alias, version);
          // The alias keeps serving what it served before, if anything.
          const previous = keepAliases.get(alias);
          if (previous !== undefined && this.models.isLoaded(name, previous)) aliases.set(alias, previous);
        }
      }
    }
    if (model !== undefined || this.models.versionsOf(name).length > 0) this.models.setAliases(name, aliases);
    if (failedAliases.size > 0) this.failedAliases.set(name, failedAliases);
    else this.failedAliases.delete(name);
    // Failures of versions that are gone (deleted, or the model is) are no news any more.
    for (const [key, f] of this.failures) {
      if (f.modelName === name && (model === undefined || (await this.registry.store.getVersion(name, f.version)) === undefined))
        this.failures.delete(key);
    }
    // Release versions nothing needs: not aliased, not recently asked for by number.
    const keep = new Set([
      ...aliases.values(),
      ...(model === undefined ? [] : (this.onDemand.get(name) ?? [])),
      ...(rollout === undefined ? [] : [rollout.baselineVersion, rollout.candidateVersion].filter((v) => this.models.isLoaded(name, v))),
    ]);
    for (const v of this.models.versionsOf(name)) {
      if (!keep.has(v.version) || (model !== undefined && (await this.registry.store.getVersion(name, v.version)) === undefined)) {
        await this.models.unload(name, v.version).catch(() => undefined);
        this.onDemand.set(
          name,
          (this.onDemand.get(name) ?? []).filter((x) => x !== v.version),
        );
      }
    }
    await this.onRollout(name, rollout);
    return this.report(name);
  }

  /** Hears each model's running rollout after its sync, once its versions are loaded (the rollout engine). */
  setRolloutListener(listener: (model: string, rollout: RolloutRecord | undefined) => Promise<void>): void {
    this.onRollout = listener;
  }

  private report(name: string): SyncReport {
    const aliases = this.models.aliasesOf(name);
    return {
      served: this.models.versionsOf(name).map((v) => ({
        modelName: name,
        version: v.version,
        aliases: [...aliases].filter(([, ver]) => ver === v.version).map(([a]) => a),
        sha256: v.sha256,
      })),
      failures: [...this.failures.values()].filter((f) => f.modelName === name),
    };
  }

  /**
   * Loads a version from its verified artifact unless it is loaded already, once the registry
   * admits it (a passed trial load). After a failure it is not tried again before its retry time
   * (never after a failed trial); false meanwhile.
   */
  private ensureLoaded(name: string, version: number): Promise<boolean> {
    if (this.models.isLoaded(name, version)) return Promise.resolve(true);
    const key = `${name}@${version}`;
    const failed = this.failures.get(key);
    if (failed !== undefined && !this.retryDue(failed)) return Promise.resolve(false);
    let running = this.loading.get(key);
    if (running === undefined) {
      running = this.loadNow(name, version, failed).finally(() => this.loading.delete(key));
      this.loading.set(key, running);
    }
    return running;
  }

  /** When a failed version may be tried again; null: never (its trial load failed). */
  private nextRetryAt(f: LoadFailure): Date | null {
    if (f.trialFailed) return null;
    return new Date(f.at.getTime() + Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** Math.min(f.attempts - 1, 30)));
  }

  private retryDue(f: LoadFailure): boolean {
    const next = this.nextRetryAt(f);
    return next !== null && Date.now() >= next.getTime();
  }

  private async loadNow(name: string, version: number, previous: LoadFailure | undefined): Promise<boolean> {
    const key = `${name}@${version}`;
    try {
      const record = await this.registry.store.getVersion(name, version);
      if (record === undefined) throw new Error('the version does not exist');
      const ready = async (): Promise<string> => {
        // A verified local copy; the manager checks the hash again as it loads.
        const path = await this.registry.artifacts.localPath(record.sha256);
        // Nothing runs in this process before it passed a trial load (recorded, or run now in a child process).
        await this.registry.admit(record);
        return path;
      };
      await this.models.load(name, version, ready, record.sha256, record.lineage);
      this.failures.delete(key);
      this.stats.loads++;
      return true;
    } catch (err) {
      const e = toQuiverError(err);
      const trialFailed = err instanceof TrialRefused;
      // One line that names the model and the version, whatever failed.
      const label = `model '${name}' version ${version}`;
      // What clients see (ReloadModel, /stats, the refusals that cite it): no runtime source
      // locations or absolute paths; the log line below keeps the whole error.
      const raw = clientText(err instanceof QuiverError ? e.message : String((err as Error).message));
      const attempts = (previous?.attempts ?? 0) + 1;
      const at = new Date();
      const failure: LoadFailure = {
        modelName: name,
        version,
        message: raw.includes(label) ? raw : `${label} cannot be loaded: ${raw}`,
        at,
        attempts,
        code: err instanceof QuiverError ? e.code : 'QUIVER_ERR_MODEL_LOAD',
        trialFailed,
      };
      this.failures.set(key, failure);
      this.stats.loadFailures++;
      this.log.error(
        { model: name, version, err, attempts, nextRetryAt: this.nextRetryAt(failure)?.toISOString() ?? null },
        trialFailed
          ? 'model version failed its trial load: it is not served'
          : 'model version failed to load; the previous version keeps serving',
      );
      return false;
    }
  }

  /**
   * For requests naming a version by number that is not loaded: loads it if the registry
   * has it. Resolves false when it does not exist; rejects with why when it failed to load.
   */
  async loadOnDemand(name: string, version: number): Promise<boolean> {
    if ((await this.registry.store.getVersion(name, version).catch(() => undefined)) === undefined) return false;
    await this.sync(name);
    // Listed before it loads, so a sync running meanwhile does not release it as unneeded.
    this.onDemand.set(name, [...(this.onDemand.get(name) ?? []).filter((v) => v !== version), version]);
    const ok = await this.ensureLoaded(name, version);
    if (!ok) {
      this.onDemand.set(
        name,
        (this.onDemand.get(name) ?? []).filter((v) => v !== version),
      );
      const f = this.failures.get(`${name}@${version}`);
      if (f !== undefined) throw this.answer(f);
      return false;
    }
    const recent = this.onDemand.get(name) ?? [];
    const aliased = new Set(this.models.aliasesOf(name).values());
    while (recent.filter((v) => !aliased.has(v)).length > ON_DEMAND_PER_MODEL) {
      const evict = recent.find((v) => !aliased.has(v)) as number;
      recent.splice(recent.indexOf(evict), 1);
      await this.models.unload(name, evict).catch(() => undefined);
    }
    return true;
  }

  /** The answer to a request for a version that failed to load: its code, and why, in one line. */
  private answer(f: LoadFailure): QuiverError {
    const next = this.nextRetryAt(f);
    const when =
      next === null
        ? 'it is not served (a failed trial load is final for a version: upload a fixed one)'
        : `it is not served; the next load attempt is due in ${Math.max(0, Math.ceil((next.getTime() - Date.now()) / 1000))} s (${f.attempts} failed so far)`;
    return new QuiverError(f.code, `${f.message}; ${when}`);
  }

  /** LoadFailureSource: why a request's version is not served, while it is not retried. */
  explain(name: string, versionSpec: string): QuiverError | undefined {
    let version: number | undefined;
    if (/^[0-9]+$/.test(versionSpec)) version = Number(versionSpec);
    else version = this.failedAliases.get(name)?.get(versionSpec === '' ? DEFAULT_ALIAS : versionSpec);
    const f = version === undefined ? undefined : this.failures.get(`${name}@${version}`);
    return f === undefined || this.retryDue(f) ? undefined : this.answer(f);
  }

  list(): LoadFailureInfo[] {
    return [...this.failures.values()]
      .map((f) => ({
        modelName: f.modelName,
        version: f.version,
        reason: f.message,
        attempts: f.attempts,
        failedAt: f.at,
        nextRetryAt: this.nextRetryAt(f),
        trialFailed: f.trialFailed,
      }))
      .sort((a, b) => a.modelName.localeCompare(b.modelName) || a.version - b.version);
  }

  /** The last load failure of each version that is failing now. */
  currentFailures(): LoadFailure[] {
    return [...this.failures.values()];
  }
}
