/**
 * The rollout operations, once for the RPCs, the CLI and the analysis: start (checked against
 * the registry: a Production baseline, an existing candidate that passes its trial load, one
 * rollout per model), promote (the candidate becomes Production) and abort. Each commits to
 * the registry's database with its audit row and tells this process's followers at once; the
 * other replicas hear of it as of any registry change.
 */
import { failedPrecondition, invalidArgument, notFound } from '../core/errors.js';
import type { Registry } from '../registry/registry.js';
import { STAGE_ALIASES } from '../registry/types.js';
import type { CheckResult } from './analysis.js';
import type { RolloutPolicy, RolloutRecord, RolloutStrategy } from './types.js';

/** The checks a rollout can run. */
export const CHECK_NAMES = ['error_rate', 'latency_p99', 'drift', 'live_accuracy', 'live_mae'] as const;

/** Canary steps when none are given: the candidate's share, percent. */
export const DEFAULT_CANARY_STEPS = [10, 25, 50, 100] as const;

export const DEFAULT_POLICY = {
  intervalMs: 60_000,
  minSamples: 200,
  minOutcomes: 100,
  maxErrorRateIncrease: 0.01,
  maxLatencyIncrease: 0.25,
  maxAccuracyDrop: 0.02,
  maxMaeIncrease: 0.1,
  alpha: 0.01,
  requireOutcomes: false,
} as const;

/** What a caller may set; zero and empty take the defaults. */
export interface PolicyInput {
  readonly weight?: number;
  readonly steps?: readonly number[];
  readonly intervalMs?: number;
  readonly minSamples?: number;
  readonly minOutcomes?: number;
  readonly maxErrorRateIncrease?: number;
  readonly maxLatencyIncrease?: number;
  readonly maxAccuracyDrop?: number;
  readonly maxMaeIncrease?: number;
  readonly alpha?: number;
  readonly requireOutcomes?: boolean;
  readonly checks?: readonly string[];
}

const given = (x: number | undefined): x is number => x !== undefined && x !== 0;

function share(name: string, x: number): number {
  if (!Number.isFinite(x) || x <= 0 || x > 100)
    throw invalidArgument(`${name}: ${x} is not a share of requests in percent (above 0, at most 100)`);
  return x;
}

function fraction(name: string, x: number, max = 1): number {
  if (!Number.isFinite(x) || x < 0 || x > max) throw invalidArgument(`${name}: ${x} must be from 0 to ${max}`);
  return x;
}

/** The policy a start asks for, checked, with the defaults filled in. */
export function rolloutPolicy(strategy: RolloutStrategy, input: PolicyInput): RolloutPolicy {
  let steps: number[];
  if (input.steps !== undefined && input.steps.length > 0) {
    steps = input.steps.map((s, i) => share(`steps[${i}]`, s));
    for (let i = 1; i < steps.length; i++)
      if ((steps[i] as number) <= (steps[i - 1] as number)) throw invalidArgument(`steps: ${steps.join(',')} must increase`);
    if (strategy === 'canary' && steps[steps.length - 1] !== 100)
      throw invalidArgument(`steps: ${steps.join(',')} must end at 100 (the last step passing promotes the candidate)`);
    if (strategy === 'shadow' && steps.length !== 1)
      throw invalidArgument('steps: a shadow rollout has one step, the share copied (use weight)');
    if (given(input.weight) && input.weight !== steps[0]) throw invalidArgument('weight: give either weight or steps');
  } else if (strategy === 'shadow') {
    steps = [given(input.weight) ? share('weight', input.weight) : 100];
  } else {
    const first = given(input.weight) ? share('weight', input.weight) : DEFAULT_CANARY_STEPS[0];
    steps = [first, ...DEFAULT_CANARY_STEPS.filter((s) => s > first)];
    if (steps[steps.length - 1] !== 100) steps.push(100);
  }
  const checks = input.checks !== undefined && input.checks.length > 0 ? [...new Set(input.checks)] : [...CHECK_NAMES];
  for (const c of checks)
    if (!(CHECK_NAMES as readonly string[]).includes(c)) throw invalidArgument(`checks: unknown check '${c}' (${CHECK_NAMES.join(', ')})`);
  const intervalMs = given(input.intervalMs) ? input.intervalMs : DEFAULT_POLICY.intervalMs;
  if (!Number.isInteger(intervalMs) || intervalMs < 1000 || intervalMs > 7 * 86_400_000)
    throw invalidArgument(`interval: ${intervalMs / 1000} s must be from 1 s to 7 days`);
  const count = (name: string, x: number | undefined, fallback: number): number => {
    const n = given(x) ? x : fallback;
    if (!Number.isInteger(n) || n < 1 || n > 100_000_000) throw invalidArgument(`${name}: ${n} must be a whole number from 1`);
    return n;
  };
  return {
    steps,
    intervalMs,
    minSamples: count('min_samples', input.minSamples, DEFAULT_POLICY.minSamples),
    minOutcomes: count('min_outcomes', input.minOutcomes, DEFAULT_POLICY.minOutcomes),
    maxErrorRateIncrease: fraction(
      'max_error_rate_increase',
      given(input.maxErrorRateIncrease) ? input.maxErrorRateIncrease : DEFAULT_POLICY.maxErrorRateIncrease,
    ),
    maxLatencyIncrease: fraction(
      'max_latency_increase',
      given(input.maxLatencyIncrease) ? input.maxLatencyIncrease : DEFAULT_POLICY.maxLatencyIncrease,
      100,
    ),
    maxAccuracyDrop: fraction('max_accuracy_drop', given(input.maxAccuracyDrop) ? input.maxAccuracyDrop : DEFAULT_POLICY.maxAccuracyDrop),
    maxMaeIncrease: fraction('max_mae_increase', given(input.maxMaeIncrease) ? input.maxMaeIncrease : DEFAULT_POLICY.maxMaeIncrease, 100),
    alpha: fraction('alpha', given(input.alpha) ? input.alpha : DEFAULT_POLICY.alpha, 0.5),
    requireOutcomes: input.requireOutcomes ?? DEFAULT_POLICY.requireOutcomes,
    checks,
  };
}

export interface StartInput extends PolicyInput {
  readonly modelName: string;
  readonly version: number;
  readonly strategy: string;
}

export async function startRollout(registry: Registry, input: StartInput, actor: string): Promise<RolloutRecord> {
  if (input.strategy !== 'shadow' && input.strategy !== 'canary')
    throw invalidArgument(`strategy: '${input.strategy}' is not shadow or canary`);
  const policy = rolloutPolicy(input.strategy, input);
  const model = await registry.getModel(input.modelName);
  const baseline = model.aliases[STAGE_ALIASES.Production];
  if (baseline === undefined)
    throw failedPrecondition(
      `model '${input.modelName}' has no Production version to compare the candidate with: promote one first (quiver promote)`,
    );
  if (input.version === baseline) throw invalidArgument(`version: ${input.version} is the Production version already`);
  const candidate = await registry.store.getVersion(input.modelName, input.version);
  if (candidate === undefined) throw notFound(`model '${input.modelName}' has no version ${input.version}`);
  // A canary's requests are checked against the version they reach, and a shadow gets the baseline's: the inputs must be the same.
  const base = await registry.store.getVersion(input.modelName, baseline);
  const inputsOf = (v: typeof candidate) => JSON.stringify({ inputs: v?.signature.inputs, features: v?.signature.featureNames });
  if (base !== undefined && inputsOf(base) !== inputsOf(candidate))
    throw failedPrecondition(
      `version ${input.version} takes other inputs than Production version ${baseline} (their input names, types, shapes or features differ): a rollout compares versions that answer the same requests`,
    );
  // Nothing serves a share of traffic before it passed a trial load.
  await registry.admit(candidate);
  const r = await registry.rollouts.start(
    { modelName: input.modelName, baselineVersion: baseline, candidateVersion: input.version, strategy: input.strategy, policy },
    actor,
  );
  registry.emit('change', input.modelName);
  return r;
}

async function running(registry: Registry, modelName: string): Promise<RolloutRecord> {
  const r = await registry.rollouts.running(modelName);
  if (r === undefined) {
    await registry.getModel(modelName);
    throw failedPrecondition(`model '${modelName}' has no rollout running`);
  }
  return r;
}

/**
 * Promotes the candidate of the model's running rollout to Production (the rollout ends as
 * promoted); false when another replica ended it meanwhile. `reason` is audited.
 */
export async function promoteRollout(
  registry: Registry,
  r: RolloutRecord,
  reason: string,
  checks: readonly CheckResult[],
  actor: string,
): Promise<boolean> {
  if (!(await registry.rollouts.finish(r, 'promoted', reason, checks, actor))) return false;
  try {
    await registry.transitionStage(r.modelName, r.candidateVersion, 'Production', false, undefined, actor);
  } catch (err) {
    // The stage did not move (the registry refused it): the rollout says so rather than claiming a promotion.
    await registry.rollouts.markFailed(r.id, `promotion refused: ${(err as Error).message}`);
    registry.emit('change', r.modelName);
    throw err;
  }
  await registry.rollouts.dropTallies(r.id);
  return true;
}

/** `quiver rollout promote`: the candidate becomes Production now, whatever the checks say. */
export async function promoteNow(registry: Registry, modelName: string, actor: string): Promise<RolloutRecord> {
  const r = await running(registry, modelName);
  await promoteRollout(registry, r, 'promoted by hand', r.checks, actor);
  return (await registry.rollouts.latest(modelName)) as RolloutRecord;
}

/** `quiver rollout abort`: the candidate's share goes to 0 and the rollout ends. */
export async function abortNow(registry: Registry, modelName: string, actor: string): Promise<RolloutRecord> {
  const r = await running(registry, modelName);
  await registry.rollouts.finish(r, 'aborted', 'aborted by hand', r.checks, actor);
  await registry.rollouts.dropTallies(r.id);
  registry.emit('change', modelName);
  return (await registry.rollouts.latest(modelName)) as RolloutRecord;
}

/** The model's newest rollout; NOT_FOUND when it never had one. */
export async function rolloutOf(registry: Registry, modelName: string): Promise<RolloutRecord> {
  const r = await registry.rollouts.latest(modelName);
  if (r === undefined) {
    await registry.getModel(modelName);
    throw notFound(`model '${modelName}' has had no rollout: start one with quiver rollout start`);
  }
  return r;
}

/** A shadow's share of answers that differed from the callers', over every replica's tally (0 before any). */
export async function disagreementRatio(registry: Registry, r: RolloutRecord): Promise<number> {
  let compared = 0;
  let disagreed = 0;
  for (const t of await registry.rollouts.tallies(r.id)) {
    compared += t.compared;
    disagreed += t.disagreed;
  }
  return compared === 0 ? 0 : disagreed / compared;
}
