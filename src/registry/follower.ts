/**
 * Serving follows the registry. For every registered model this server loads the versions
 * its aliases (the stages' `production` and `staging` included) point at, and swaps the
 * alias map atomically once they are warm; versions no alias needs any more are drained
 * and released. A request for a version by number loads it on demand. A version that
 * fails to load (a corrupted artifact, an onnxruntime error) is logged and reported, and the
 * alias keeps pointing at what was serving before.
 *
 * It hears of changes from this process's registry at once (`change` events) and from other
 * processes sharing the store through a poll of the audit log.
 */
import type { Logger } from 'pino';

import type { ModelManager } from '../core/model-manager.js';
import type { Registry } from './registry.js';
import { CATCH_UP } from './types.js';

export interface LoadFailure {
  readonly modelName: string;
  readonly version: number;
  readonly message: string;
  readonly at: Date;
}

export interface SyncReport {
  readonly served: Array<{ modelName: string; version: number; aliases: string[]; sha256: string }>;
  readonly failures: LoadFailure[];
}

/** Versions loaded on demand (by number) kept per model, beyond the aliased ones. */
const ON_DEMAND_PER_MODEL = 4;

export class RegistryFollower {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly failures = new Map<string, LoadFailure>();
  /** Versions loaded by number, most recently used last. */
  private readonly onDemand = new Map<string, number[]>();
  private lastAuditId = 0;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private polling = false;
  private stopped = false;
  /** Counters for metrics: loads that succeeded and failed. */
  readonly stats = { loads: 0, loadFailures: 0, syncs: 0 };

  constructor(
    private readonly registry: Registry,
    private readonly models: ModelManager,
    private readonly log: Logger,
    private readonly pollMs: number,
    /** Told whether the registry's store answers (each poll; and at once when a call finds it down). */
    private readonly onStoreHealth: (ok: boolean) => void = () => undefined,
  ) {}

  private readonly onChange = (model: string): void => {
    // The notification channel (re)connected, and changes may have been missed meanwhile.
    if (model === CATCH_UP) void this.poll();
    else void this.sync(model);
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
    const aliases = new Map<string, number>();
    const keepAliases = this.models.aliasesOf(name);
    for (const [version, names] of wanted) {
      const ok = await this.ensureLoaded(name, version);
      for (const alias of names) {
        if (ok) aliases.set(alias, version);
        else {
          // The alias keeps serving what it served before, if anything.
          const previous = keepAliases.get(alias);
          if (previous !== undefined && this.models.isLoaded(name, previous)) aliases.set(alias, previous);
        }
      }
    }
    if (model !== undefined || this.models.versionsOf(name).length > 0) this.models.setAliases(name, aliases);
    // Release versions nothing needs: not aliased, not recently asked for by number.
    const keep = new Set([...aliases.values(), ...(model === undefined ? [] : (this.onDemand.get(name) ?? []))]);
    for (const v of this.models.versionsOf(name)) {
      if (!keep.has(v.version) || (model !== undefined && (await this.registry.store.getVersion(name, v.version)) === undefined)) {
        await this.models.unload(name, v.version).catch(() => undefined);
        this.onDemand.set(
          name,
          (this.onDemand.get(name) ?? []).filter((x) => x !== v.version),
        );
      }
    }
    return this.report(name);
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

  /** Loads a version from its verified artifact unless it is loaded already. */
  private async ensureLoaded(name: string, version: number): Promise<boolean> {
    if (this.models.isLoaded(name, version)) return true;
    const key = `${name}@${version}`;
    try {
      const record = await this.registry.store.getVersion(name, version);
      if (record === undefined) throw new Error('the version does not exist');
      // A verified local copy; the manager checks the hash again as it loads.
      const path = await this.registry.artifacts.localPath(record.sha256);
      await this.models.load(name, version, path, record.sha256, record.lineage);
      this.failures.delete(key);
      this.stats.loads++;
      return true;
    } catch (err) {
      const message = (err as Error).message;
      this.failures.set(key, { modelName: name, version, message, at: new Date() });
      this.stats.loadFailures++;
      this.log.error({ model: name, version, err }, 'model version failed to load; the previous version keeps serving');
      return false;
    }
  }

  /**
   * For requests naming a version by number that is not loaded: loads it if the registry
   * has it. Returns false when it does not exist or fails to load.
   */
  async loadOnDemand(name: string, version: number): Promise<boolean> {
    if ((await this.registry.store.getVersion(name, version).catch(() => undefined)) === undefined) return false;
    const ok = await this.sync(name).then(() => this.ensureLoaded(name, version));
    if (!ok) return false;
    const recent = [...(this.onDemand.get(name) ?? []).filter((v) => v !== version), version];
    const aliased = new Set(this.models.aliasesOf(name).values());
    while (recent.filter((v) => !aliased.has(v)).length > ON_DEMAND_PER_MODEL) {
      const evict = recent.find((v) => !aliased.has(v)) as number;
      recent.splice(recent.indexOf(evict), 1);
      await this.models.unload(name, evict).catch(() => undefined);
    }
    this.onDemand.set(name, recent);
    return true;
  }

  /** The last load failure of each version that is failing now. */
  currentFailures(): LoadFailure[] {
    return [...this.failures.values()];
  }
}
