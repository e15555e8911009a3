/**
 * Descriptive statistics shared by validation and the training profile, so that the two
 * reports describe a column the same way. Standard deviations are population (ddof = 0)
 * and quantiles interpolate linearly between order statistics (numpy's default method).
 */

export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i] as number;
  return values.length === 0 ? NaN : sum / values.length;
}

/** Population standard deviation (ddof = 0), two-pass for accuracy. */
export function std(values: ArrayLike<number>, mu = mean(values)): number {
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    const d = (values[i] as number) - mu;
    ss += d * d;
  }
  return values.length === 0 ? NaN : Math.sqrt(ss / values.length);
}

export function sorted(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

/** The q-quantile (0 <= q <= 1) of already sorted values, numpy's 'linear' method. */
export function quantileSorted(sortedValues: ArrayLike<number>, q: number): number {
  const n = sortedValues.length;
  if (n === 0) return NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const a = sortedValues[lo] as number;
  const b = sortedValues[hi] as number;
  return a + (b - a) * (pos - lo);
}

export interface Summary {
  readonly count: number;
  readonly mean: number;
  readonly std: number;
  readonly min: number;
  readonly p25: number;
  readonly p50: number;
  readonly p75: number;
  readonly max: number;
}

/** count, mean, std, min, quartiles and max of a non-empty column. */
export function summarize(values: ArrayLike<number>): Summary {
  const s = sorted(values);
  const mu = mean(s);
  return {
    count: s.length,
    mean: mu,
    std: std(s, mu),
    min: s[0] ?? NaN,
    p25: quantileSorted(s, 0.25),
    p50: quantileSorted(s, 0.5),
    p75: quantileSorted(s, 0.75),
    max: s[s.length - 1] ?? NaN,
  };
}
