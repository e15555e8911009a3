/** Least-squares slopes: of RSS over cycles or hours, and per serving version. */
import type { CycleRecord } from './records.js';

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/** Least-squares slope fitted for each serving version separately, averaged over versions. */
export function perVersionSlope(cycles: readonly CycleRecord[], y: (c: CycleRecord) => number | null): number | null {
  const slopes: number[] = [];
  for (const v of new Set(cycles.map((c) => c.version))) {
    const own = cycles.filter((c) => c.version === v && y(c) !== null);
    if (own.length >= 3)
      slopes.push(
        slope(
          own.map((c) => c.cycle),
          own.map((c) => y(c) as number),
        ),
      );
  }
  return slopes.length === 0 ? null : slopes.reduce((a, b) => a + b, 0) / slopes.length;
}
