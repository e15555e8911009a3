/**
 * A rollout's checks: the candidate against the baseline, each a one-sided test at the policy's
 * significance with a minimum sample count, never a raw threshold. A check fails only when
 * the data show, beyond chance, that the candidate is worse by more than the policy's margin;
 * until both versions have their minimum samples it is `waiting`.
 *
 * - error_rate: the two-proportion z-test of candidate failures over baseline ones.
 * - latency_p99: the share of the candidate's calls slower than the baseline's p99 grown by the
 *   margin, against the 1% a version no slower than the baseline would show (a one-sample
 *   proportion z-test).
 * - live_accuracy: the two-proportion z-test of the baseline's accuracy over the candidate's,
 *   on outcomes joined to logged predictions (classifiers).
 * - live_mae: Welch's z-test of the candidate's mean absolute error over the baseline's grown by
 *   the margin, on the same outcomes (regressors).
 * - drift: the candidate's inputs drifted from its training profile (the drift detector's
 *   Kolmogorov-Smirnov and PSI test) while the baseline's did not.
 */
import { errorFunction } from 'simple-statistics';

import type { LatencyTally } from './tally.js';

export type CheckName = 'error_rate' | 'latency_p99' | 'live_accuracy' | 'live_mae' | 'drift';
export type CheckStatus = 'pass' | 'fail' | 'waiting';

export interface CheckResult {
  readonly name: CheckName;
  readonly status: CheckStatus;
  /** The figure compared, for each version (a rate, seconds, an accuracy, or 1/0 for drift). */
  readonly baseline: number;
  readonly candidate: number;
  /** The samples each figure rests on. */
  readonly baselineSamples: number;
  readonly candidateSamples: number;
  /** The one-sided test's p-value (1 when there was nothing to test). */
  readonly pValue: number;
  /** One line: what was compared and the verdict. */
  readonly detail: string;
}

export interface CheckPolicy {
  /** Requests per version before error_rate and latency_p99 count; outcomes before live_accuracy counts. */
  readonly minSamples: number;
  readonly minOutcomes: number;
  /** Absolute: the candidate's error rate may exceed the baseline's by this much. */
  readonly maxErrorRateIncrease: number;
  /** Relative: the candidate's p99 may exceed the baseline's by this share. */
  readonly maxLatencyIncrease: number;
  /** Absolute: the candidate's live accuracy may fall below the baseline's by this much. */
  readonly maxAccuracyDrop: number;
  /** Relative: the candidate's live mean absolute error may exceed the baseline's by this share. */
  readonly maxMaeIncrease: number;
  /** The tests' significance level. */
  readonly alpha: number;
}

/** A count of events among trials. */
export interface Proportion {
  readonly events: number;
  readonly n: number;
}

/** The upper tail of the standard normal at z: P(Z > z) = (1 - erf(z / sqrt 2)) / 2. */
const pValueOf = (z: number): number => (Number.isFinite(z) ? Math.max(0, 0.5 * (1 - errorFunction(z / Math.SQRT2))) : z > 0 ? 0 : 1);

/**
 * One-sided two-proportion z-test of H0: worse - better <= margin. The standard error is the
 * unpooled one, each proportion's own variance: pooling assumes the two are equal, which a
 * test with a margin does not. Returns z and its p-value; `worse` is the proportion that the
 * check fears is larger.
 */
export function proportionExcessTest(worse: Proportion, better: Proportion, margin: number): { z: number; pValue: number } {
  if (worse.n === 0 || better.n === 0) return { z: -Infinity, pValue: 1 };
  const pw = worse.events / worse.n;
  const pb = better.events / better.n;
  const se = Math.sqrt((pw * (1 - pw)) / worse.n + (pb * (1 - pb)) / better.n);
  const excess = pw - pb - margin;
  // No spread at all (both 0% or both 100%): only an excess beyond the margin is evidence.
  const z = se === 0 ? (excess > 0 ? Infinity : -Infinity) : excess / se;
  return { z, pValue: pValueOf(z) };
}

/** One-sided one-sample proportion z-test of H0: share <= p0. */
export function proportionAboveTest(observed: Proportion, p0: number): { z: number; pValue: number } {
  if (observed.n === 0) return { z: -Infinity, pValue: 1 };
  const z = (observed.events / observed.n - p0) / Math.sqrt((p0 * (1 - p0)) / observed.n);
  return { z, pValue: pValueOf(z) };
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
const ms = (s: number): string => `${(1000 * s).toFixed(2)} ms`;

function verdict(p: number, alpha: number): CheckStatus {
  return p < alpha ? 'fail' : 'pass';
}

/** A check of a proportion per version (failures over requests, correct answers over outcomes). */
interface ProportionSpec {
  readonly name: 'error_rate' | 'live_accuracy';
  /** What the proportion is, in messages. */
  readonly what: string;
  /** What is counted, in messages ("requests", "outcomes"). */
  readonly unit: string;
  readonly min: number;
  readonly margin: number;
  /** Whether a higher proportion is worse (errors) or better (accuracy). */
  readonly higherIsWorse: boolean;
}

function proportionCheck(spec: ProportionSpec, base: Proportion, cand: Proportion, alpha: number): CheckResult {
  const rate = (p: Proportion): number => (p.n === 0 ? 0 : p.events / p.n);
  const figures = { name: spec.name, baseline: rate(base), candidate: rate(cand), baselineSamples: base.n, candidateSamples: cand.n };
  if (base.n < spec.min || cand.n < spec.min)
    return { ...figures, status: 'waiting', pValue: 1, detail: `waiting for ${spec.min} ${spec.unit} per version` };
  const { pValue } = spec.higherIsWorse ? proportionExcessTest(cand, base, spec.margin) : proportionExcessTest(base, cand, spec.margin);
  return {
    ...figures,
    status: verdict(pValue, alpha),
    pValue,
    detail: `${spec.what} ${pct(figures.candidate)} against ${pct(figures.baseline)} (margin ${pct(spec.margin)}, p=${pValue.toPrecision(3)})`,
  };
}

export const errorRateCheck = (base: Proportion, cand: Proportion, policy: CheckPolicy): CheckResult =>
  proportionCheck(
    {
      name: 'error_rate',
      what: 'error rate',
      unit: 'requests',
      min: policy.minSamples,
      margin: policy.maxErrorRateIncrease,
      higherIsWorse: true,
    },
    base,
    cand,
    policy.alpha,
  );

export function latencyCheck(base: LatencyTally, cand: LatencyTally, policy: CheckPolicy): CheckResult {
  const baseP99 = base.quantile(0.99);
  const threshold = baseP99 * (1 + policy.maxLatencyIncrease);
  const figures = {
    name: 'latency_p99' as const,
    baseline: baseP99,
    candidate: cand.quantile(0.99),
    baselineSamples: base.count,
    candidateSamples: cand.count,
  };
  if (base.count < policy.minSamples || cand.count < policy.minSamples)
    return { ...figures, status: 'waiting', pValue: 1, detail: `waiting for ${policy.minSamples} requests per version` };
  const slower = cand.countAbove(threshold);
  const { pValue } = proportionAboveTest({ events: slower, n: cand.count }, 0.01);
  const status = verdict(pValue, policy.alpha);
  return {
    ...figures,
    status,
    pValue,
    detail: `p99 ${ms(figures.candidate)} against ${ms(baseP99)}; ${pct(slower / cand.count)} of the candidate's calls over ${ms(threshold)} (1% expected, p=${pValue.toPrecision(3)})`,
  };
}

export const accuracyCheck = (base: Proportion, cand: Proportion, policy: CheckPolicy): CheckResult =>
  proportionCheck(
    {
      name: 'live_accuracy',
      what: 'live accuracy',
      unit: 'outcomes',
      min: policy.minOutcomes,
      margin: policy.maxAccuracyDrop,
      higherIsWorse: false,
    },
    base,
    cand,
    policy.alpha,
  );

/** A version's absolute errors on its outcomes, summed: count, sum and sum of squares. */
export interface ErrorSums {
  readonly n: number;
  readonly absSum: number;
  readonly sqSum: number;
}

export function maeCheck(base: ErrorSums, cand: ErrorSums, policy: CheckPolicy): CheckResult {
  const mean = (e: ErrorSums): number => (e.n === 0 ? 0 : e.absSum / e.n);
  const variance = (e: ErrorSums): number => (e.n < 2 ? 0 : Math.max(0, (e.sqSum - e.n * mean(e) ** 2) / (e.n - 1)));
  const figures = {
    name: 'live_mae' as const,
    baseline: mean(base),
    candidate: mean(cand),
    baselineSamples: base.n,
    candidateSamples: cand.n,
  };
  if (base.n < policy.minOutcomes || cand.n < policy.minOutcomes)
    return { ...figures, status: 'waiting', pValue: 1, detail: `waiting for ${policy.minOutcomes} outcomes per version` };
  const allowed = figures.baseline * (1 + policy.maxMaeIncrease);
  const se = Math.sqrt(variance(base) / base.n + variance(cand) / cand.n);
  const excess = figures.candidate - allowed;
  const z = se === 0 ? (excess > 0 ? Infinity : -Infinity) : excess / se;
  const pValue = pValueOf(z);
  return {
    ...figures,
    status: verdict(pValue, policy.alpha),
    pValue,
    detail: `live MAE ${figures.candidate.toPrecision(4)} against ${figures.baseline.toPrecision(4)} (margin +${pct(policy.maxMaeIncrease)}, p=${pValue.toPrecision(3)})`,
  };
}

/** The drift detector's verdicts; undefined: not evaluated yet (too few rows, or no training profile). */
export function driftCheck(base: boolean | undefined, cand: boolean | undefined): CheckResult {
  const figures = {
    name: 'drift' as const,
    baseline: base === true ? 1 : 0,
    candidate: cand === true ? 1 : 0,
    baselineSamples: 0,
    candidateSamples: 0,
  };
  if (base === undefined || cand === undefined)
    return { ...figures, status: 'waiting', pValue: 1, detail: 'waiting for a drift verdict on both versions' };
  const status: CheckStatus = cand && !base ? 'fail' : 'pass';
  return {
    ...figures,
    status,
    pValue: 1,
    detail: status === 'fail' ? "the candidate's inputs drifted from its training data; the baseline's did not" : 'no drift of its own',
  };
}
