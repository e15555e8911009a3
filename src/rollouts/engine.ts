/**
 * A server's rollout engine. The follower hands it each model's running rollout after every
 * sync (apply), and it sets the router's split from it, so every replica serves the weights the
 * registry holds. Every second it writes this replica's tallies of both versions, sums every
 * replica's, runs the checks (analysis.ts) with the live accuracy from the prediction log, and
 * acts on the verdict:
 * - a failed check rolls the candidate back at once (weight 0, an audit row with the reason and
 *   the figures, quiver_rollouts_total{result="rolled_back"} and an error log line);
 * - a step whose interval has passed with every check passing moves to the next step, and the
 *   last one promotes the candidate to Production, audited.
 * Every replica analyses the same sums; the transitions are conditional, so one replica writes
 * each, and the others follow it as they follow any registry change.
 */
import { hostname } from 'node:os';

import type { Logger } from 'pino';

import type { PredictionStore } from '../feedback/prediction-store.js';
import type { Registry } from '../registry/registry.js';
import { STAGE_ALIASES } from '../registry/types.js';
import { accuracyCheck, type CheckResult, driftCheck, errorRateCheck, latencyCheck, maeCheck } from './analysis.js';
import type { RolloutRouter } from './router.js';
import { promoteRollout } from './rollouts.js';
import { LatencyTally, VersionTally } from './tally.js';
import type { RolloutRecord, TallyRecord } from './types.js';

/** Who the audit rows of the engine's own decisions name. */
export const ENGINE_ACTOR = 'quiver-rollout';

export interface EngineDeps {
  readonly registry: Registry;
  readonly predictions: PredictionStore;
  readonly router: RolloutRouter;
  /** Whether this server has the version loaded. */
  readonly isLoaded: (model: string, version: number) => boolean;
  /** Why the version can never be loaded (its trial load failed); undefined while it may still load. */
  readonly neverLoads: (model: string, version: number) => string | undefined;
  /** Whether the version is a classifier (undefined: not loaded here). */
  readonly classifier: (model: string, version: number) => boolean | undefined;
  /** This replica's drift verdict: true/false, undefined before one, null without a training profile. */
  readonly drifted: (model: string, version: number) => boolean | null | undefined;
  readonly log: Logger;
  /** How often the analysis runs (tests shorten it). */
  readonly tickMs?: number;
}

const TICK_MS = 1000;

interface Sums {
  requests: number;
  failures: number;
  latency: LatencyTally;
  drifted: boolean | null | undefined;
  compared: number;
  disagreed: number;
}

export class RolloutEngine {
  /** This replica's name in the tallies. */
  readonly replica = `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  /** Rollouts this replica ended, by model and result (quiver_rollouts_total). */
  readonly ended = new Map<string, Map<string, number>>();
  private readonly rollouts = new Map<string, RolloutRecord>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;

  constructor(private readonly deps: EngineDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.tickMs ?? TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
  }

  /**
   * The model's running rollout as the registry has it now (undefined: none), after the
   * follower loaded what it needs. A candidate that could not be loaded fails the rollout.
   */
  async apply(model: string, r: RolloutRecord | undefined): Promise<void> {
    const router = this.deps.router;
    if (r === undefined || r.state !== 'running') {
      router.set(model, undefined);
      this.rollouts.delete(model);
      return;
    }
    if (!this.deps.isLoaded(model, r.candidateVersion) || !this.deps.isLoaded(model, r.baselineVersion)) {
      // Not here yet (a load that failed is retried with backoff): this replica serves the
      // baseline meanwhile. Only a failed trial load, which is final, fails the rollout.
      router.set(model, undefined);
      this.rollouts.delete(model);
      const never = this.deps.neverLoads(model, r.candidateVersion);
      if (never !== undefined) await this.end(r, 'failed', `version ${r.candidateVersion} cannot be served: ${never}`, r.checks);
      return;
    }
    this.rollouts.set(model, r);
    const current = router.get(model);
    router.set(
      model,
      current !== undefined && current.rolloutId === r.id
        ? { ...current, weight: r.weight }
        : {
            rolloutId: r.id,
            strategy: r.strategy,
            baseline: r.baselineVersion,
            candidate: r.candidateVersion,
            weight: r.weight,
            tallies: { baseline: new VersionTally(), candidate: new VersionTally() },
            shadow: { compared: 0, disagreed: 0 },
          },
    );
  }

  /** One round: every running rollout of this server analysed, and acted on. */
  tick(): Promise<void> {
    this.ticking ??= (async () => {
      for (const r of [...this.rollouts.values()]) {
        try {
          await this.analyse(r);
        } catch (err) {
          this.deps.log.warn({ err, model: r.modelName }, 'rollout analysis failed; trying again');
        }
      }
    })().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private tallyOf(r: RolloutRecord, version: number, t: VersionTally): TallyRecord {
    const route = this.deps.router.get(r.modelName);
    const shadow = version === r.candidateVersion ? route?.shadow : undefined;
    const drifted = this.deps.drifted(r.modelName, version);
    return {
      replica: this.replica,
      version,
      requests: t.requests,
      failures: t.failures,
      latency: t.latency.toJSON(),
      drifted: drifted === null || drifted === undefined ? null : drifted,
      compared: shadow?.compared ?? 0,
      disagreed: shadow?.disagreed ?? 0,
    };
  }

  private async sums(r: RolloutRecord): Promise<{ baseline: Sums; candidate: Sums }> {
    const store = this.deps.registry.rollouts;
    const route = this.deps.router.get(r.modelName);
    if (route !== undefined && route.rolloutId === r.id) {
      await store.saveTally(r.id, this.tallyOf(r, r.baselineVersion, route.tallies.baseline));
      await store.saveTally(r.id, this.tallyOf(r, r.candidateVersion, route.tallies.candidate));
    }
    const empty = (version: number): Sums => ({
      requests: 0,
      failures: 0,
      latency: new LatencyTally(),
      // Without a training profile there is no drift to compare: null, which the check passes.
      drifted: this.deps.drifted(r.modelName, version) === null ? null : undefined,
      compared: 0,
      disagreed: 0,
    });
    const out = { baseline: empty(r.baselineVersion), candidate: empty(r.candidateVersion) };
    for (const t of await store.tallies(r.id)) {
      const s = t.version === r.candidateVersion ? out.candidate : t.version === r.baselineVersion ? out.baseline : undefined;
      if (s === undefined) continue;
      s.requests += t.requests;
      s.failures += t.failures;
      s.latency.add(LatencyTally.fromJSON(t.latency));
      if (t.drifted !== null) s.drifted = s.drifted === true || t.drifted;
      s.compared += t.compared;
      s.disagreed += t.disagreed;
    }
    return out;
  }

  /**
   * The checks of a rollout now, over every replica's tallies and outcomes since it started.
   * They are tested as the data arrive, once a tick: each look tests at alpha divided by the
   * looks a step takes (a Bonferroni correction), so that a candidate no worse than its margin
   * is rolled back with at most about alpha's chance per step, not once per look.
   */
  async checks(r: RolloutRecord): Promise<CheckResult[]> {
    const { baseline, candidate } = await this.sums(r);
    const looks = Math.max(1, Math.ceil(r.policy.intervalMs / (this.deps.tickMs ?? TICK_MS)));
    const policy = { ...r.policy, alpha: r.policy.alpha / looks };
    const out: CheckResult[] = [];
    if (policy.checks.includes('error_rate'))
      out.push(
        errorRateCheck({ events: baseline.failures, n: baseline.requests }, { events: candidate.failures, n: candidate.requests }, policy),
      );
    if (policy.checks.includes('latency_p99')) out.push(latencyCheck(baseline.latency, candidate.latency, policy));
    if (policy.checks.includes('drift'))
      out.push(
        baseline.drifted === null || candidate.drifted === null
          ? { ...driftCheck(false, false), detail: 'no training profile to detect drift against' }
          : driftCheck(baseline.drifted, candidate.drifted),
      );
    const classifier = this.deps.classifier(r.modelName, r.candidateVersion);
    const live = classifier === true ? 'live_accuracy' : classifier === false ? 'live_mae' : undefined;
    if (live !== undefined && policy.checks.includes(live)) {
      const quality = await this.deps.predictions.quality(r.startedAt.getTime(), r.modelName);
      const of = (v: number) => quality.find((x) => x.version === v);
      const [b, c] = [of(r.baselineVersion), of(r.candidateVersion)];
      out.push(
        live === 'live_accuracy'
          ? accuracyCheck({ events: b?.correct ?? 0, n: b?.samples ?? 0 }, { events: c?.correct ?? 0, n: c?.samples ?? 0 }, policy)
          : maeCheck(
              { n: b?.samples ?? 0, absSum: b?.absErrorSum ?? 0, sqSum: b?.sqErrorSum ?? 0 },
              { n: c?.samples ?? 0, absSum: c?.absErrorSum ?? 0, sqSum: c?.sqErrorSum ?? 0 },
              policy,
            ),
      );
    }
    return out;
  }

  private async analyse(r: RolloutRecord): Promise<void> {
    // Production moved by hand (quiver promote): the comparison no longer holds.
    const production = (await this.deps.registry.store.getModel(r.modelName))?.aliases[STAGE_ALIASES.Production];
    if (production !== r.baselineVersion) {
      await this.end(r, 'aborted', `Production moved to version ${production ?? 'none'} outside the rollout`, r.checks);
      return;
    }
    const checks = await this.checks(r);
    const failed = checks.filter((c) => c.status === 'fail');
    if (failed.length > 0) {
      await this.end(r, 'rolled_back', failed.map((c) => `${c.name}: ${c.detail}`).join('; '), checks);
      return;
    }
    const blocking = checks.filter((c) => c.status === 'waiting' && (!c.name.startsWith('live_') || r.policy.requireOutcomes));
    const due = Date.now() - r.stepStartedAt.getTime() >= r.policy.intervalMs;
    const store = this.deps.registry.rollouts;
    if (!due || blocking.length > 0) {
      await store.saveChecks(r.id, checks);
      return;
    }
    if (r.step + 1 >= r.policy.steps.length) {
      if (await promoteRollout(this.deps.registry, r, 'every step passed its checks', checks, ENGINE_ACTOR)) {
        this.count(r.modelName, 'promoted');
        this.deps.log.info({ model: r.modelName, version: r.candidateVersion, checks }, 'rollout promoted the candidate to Production');
      }
      return;
    }
    if (await store.advance(r, checks, ENGINE_ACTOR)) {
      this.deps.registry.emit('change', r.modelName);
      this.deps.log.info({ model: r.modelName, version: r.candidateVersion, weight: r.policy.steps[r.step + 1] }, 'rollout step passed');
    }
  }

  /**
   * Ends a rollout (rolled back, failed, or aborted by a change of Production): weight 0 here at
   * once, audited once. Until the registry has the end, the engine keeps the rollout and the
   * next tick tries again.
   */
  private async end(
    r: RolloutRecord,
    state: 'rolled_back' | 'failed' | 'aborted',
    reason: string,
    checks: readonly CheckResult[],
  ): Promise<void> {
    this.deps.router.set(r.modelName, undefined);
    const written = await this.deps.registry.rollouts.finish(r, state, reason, checks, ENGINE_ACTOR);
    if (this.rollouts.get(r.modelName)?.id === r.id) this.rollouts.delete(r.modelName);
    if (!written) return;
    this.count(r.modelName, state);
    this.deps.registry.emit('change', r.modelName);
    this.deps.log.error(
      { model: r.modelName, version: r.candidateVersion, baseline: r.baselineVersion, reason, checks },
      state === 'rolled_back' ? 'rollout rolled back: the candidate failed a check' : `rollout ${state.replace('_', ' ')}`,
    );
  }

  private count(model: string, result: string): void {
    const byResult = this.ended.get(model) ?? new Map<string, number>();
    byResult.set(result, (byResult.get(result) ?? 0) + 1);
    this.ended.set(model, byResult);
  }
}
