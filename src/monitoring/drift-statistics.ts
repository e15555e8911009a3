/**
 * The statistics behind drift detection (DriftMonitor in drift.ts), as pure functions: the
 * binning of the training profile's histograms, PSI and the Kolmogorov-Smirnov test. Serving
 * (the monitor) and training (training/profile.ts, which writes the histograms) both bin with
 * `binIndex` from here, so a live value and a training value land in the same bin.
 *
 * Two scores per feature, both pure functions of the training histogram and the live values:
 *
 * - PSI (population stability index) between the training bin shares and the window's bin
 *   shares, over the profile's own bins (the training deciles; values are binned with
 *   `binIndex` below, so the outer bins are open and out-of-range values still count).
 *   Training shares are the profile's counts over their total (not a flat 10%: discrete
 *   features have uneven or empty deciles). Both shares are floored at PSI_EPSILON = 1e-4
 *   before `(live - train) * ln(live / train)` is summed, so an empty bin costs a large but
 *   finite amount; bins empty on both sides (between repeated edges) contribute 0.
 * - KS: the Kolmogorov-Smirnov statistic D = sup |F_live(x) - F_train(x)|, where F_live is the
 *   window's empirical CDF and F_train is the training CDF interpolated linearly through the
 *   points (edge_k, k / bins), 0 below the first edge and 1 from the last on (a run of repeated
 *   edges is a jump). D's critical value for n live rows against a profile of N training rows
 *   is c(alpha') * sqrt(1/n + 1/N) with c(a) = sqrt(-ln(a / 2) / 2) and alpha' = ksAlpha /
 *   (monitored features) (Bonferroni over the features). That is the two-sample value: F_train
 *   is itself estimated from N rows (and interpolated between deciles), and the one-sample
 *   value c(alpha') / sqrt(n) ignores that: with the blueprint's 800-row profile and N(0, 1)
 *   traffic, KS alone then fires on 1% of 500-row windows and on half of 2000-row windows. For a
 *   large profile the two agree.
 */

/**
 * The bin (0 to edges.length - 2) of a value: the number of inner edges (edges[1] to
 * edges[edges.length - 2]) that are <= value. Bins are [edge_i, edge_i+1) with the first open
 * below and the last open above; bins between repeated edges stay empty. NaN goes to bin 0.
 */
export function binIndex(edges: readonly number[], value: number): number {
  let bin = 0;
  for (let i = 1; i < edges.length - 1; i++) if (value >= (edges[i] as number)) bin = i;
  return bin;
}

/** Why a feature's training histogram (edges and counts) cannot be used, or null when it can. */
export function histogramProblem(edges: readonly number[], counts: readonly number[]): string | null {
  if (edges.length === 0 && counts.length === 0) return 'its training profile has no histogram';
  if (counts.length < 1 || edges.length !== counts.length + 1) {
    return `its training histogram has ${edges.length} edges for ${counts.length} counts`;
  }
  if (counts.length > 0xffff) return `its training histogram has ${counts.length} bins (at most ${0xffff})`;
  for (let i = 0; i < edges.length; i++) {
    const e = edges[i] as number;
    if (!Number.isFinite(e) || (i > 0 && e < (edges[i - 1] as number))) {
      return 'its training histogram edges are not finite and non-decreasing';
    }
  }
  let total = 0;
  for (const c of counts) {
    if (!Number.isInteger(c) || c < 0) return `its training histogram has a bad count (${c})`;
    total += c;
  }
  if (total === 0) return 'its training histogram is empty';
  return null;
}

/** Floor for bin shares in PSI, so that empty bins give a finite score. */
export const PSI_EPSILON = 1e-4;

/**
 * The asymptotic KS critical value at significance `alpha` for `n` live values:
 * c(alpha) * sqrt(1/n + 1/reference) with c(a) = sqrt(-ln(a / 2) / 2). With `reference` rows
 * behind the training CDF this is the two-sample value; without (Infinity) the one-sample
 * c(alpha) / sqrt(n).
 */
export function ksCriticalValue(alpha: number, n: number, reference = Infinity): number {
  return Math.sqrt(-Math.log(alpha / 2) / 2) * Math.sqrt(1 / n + 1 / reference);
}

/** PSI between two distributions given as bin shares (each summing to 1), shares floored at `epsilon`. */
export function psi(trainShares: ArrayLike<number>, liveShares: ArrayLike<number>, epsilon = PSI_EPSILON): number {
  if (trainShares.length !== liveShares.length) throw new Error(`PSI over ${trainShares.length} and ${liveShares.length} bins`);
  let sum = 0;
  for (let i = 0; i < trainShares.length; i++) {
    const e = Math.max(trainShares[i] as number, epsilon);
    const a = Math.max(liveShares[i] as number, epsilon);
    sum += (a - e) * Math.log(a / e);
  }
  return sum;
}

/**
 * The training CDF at `x` interpolated through (edges[k], k / bins); with `left`, its limit
 * from the left (differs from the value only at a run of repeated edges, where it jumps).
 */
export function profileCdf(edges: readonly number[], x: number, left = false): number {
  const bins = edges.length - 1;
  const first = edges[0] as number;
  const last = edges[bins] as number;
  if (left ? x <= first : x < first) return 0;
  if (left ? x > last : x >= last) return 1;
  // first <= x < last (first < x <= last from the left): the segment [edges[k], edges[k+1]] holding x.
  let k = 0;
  for (let i = 1; i < bins; i++) {
    const e = edges[i] as number;
    if (left ? e < x : e <= x) k = i;
    else break;
  }
  const lo = edges[k] as number;
  const hi = edges[k + 1] as number;
  return (k + (x - lo) / (hi - lo)) / bins;
}

/**
 * sup |F_n(x) - F(x)| between the empirical CDF of `sortedValues` (ascending, ties allowed)
 * and the profile CDF above. Between consecutive distinct sample values F_n is flat and F
 * non-decreasing, so the supremum is at a sample value or just before one.
 */
export function ksStatistic(edges: readonly number[], sortedValues: ArrayLike<number>, n = sortedValues.length): number {
  let d = 0;
  let before = 0;
  let i = 0;
  while (i < n) {
    const v = sortedValues[i] as number;
    let j = i + 1;
    while (j < n && sortedValues[j] === v) j++;
    const after = j / n;
    d = Math.max(d, Math.abs(before - profileCdf(edges, v, true)), Math.abs(after - profileCdf(edges, v)));
    before = after;
    i = j;
  }
  return d;
}
