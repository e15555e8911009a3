/**
 * The training profile a model version keeps for drift detection: per feature, summary
 * statistics, quantiles and a 10-bin histogram of the training rows. The histogram's bins are
 * deciles of the training data (edges = p0, p10, ..., p100), so each holds about a tenth of
 * the training rows, which is what PSI wants. Training and live values are binned with the
 * same binIndex (src/monitoring/drift-statistics.ts, where the drift monitor gets it too),
 * whose outer bins are open-ended so values outside the training range still land in a bin.
 */
import { binIndex } from '../src/monitoring/drift-statistics.js';
import type { Matrix } from './matrix.js';
import { mean, quantileSorted, sorted, std } from './stats.js';

export const PROFILE_QUANTILES = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99] as const;
export const HISTOGRAM_BINS = 10;

export interface FeatureProfile {
  readonly mean: number;
  /** Population standard deviation (ddof = 0). */
  readonly std: number;
  readonly min: number;
  readonly max: number;
  /** p1, p5, p25, p50, p75, p95, p99 (linear interpolation, numpy's default). */
  readonly quantiles: number[];
  readonly histogram: {
    /** 11 edges: the p0, p10, ..., p100 deciles of the training values (may repeat for discrete features). */
    readonly edges: number[];
    /** 10 counts of training rows per bin, as binIndex assigns them; they sum to `rows`. */
    readonly counts: number[];
  };
}

export interface TrainingProfile {
  /** Format version of this object. */
  readonly version: 1;
  readonly rows: number;
  readonly featureNames: string[];
  readonly quantileLevels: number[];
  readonly binning: 'deciles';
  readonly features: Record<string, FeatureProfile>;
}

export function trainingProfile(featureNames: readonly string[], X: Matrix): TrainingProfile {
  if (X.length === 0) throw new Error('cannot profile an empty training set');
  const features = Object.create(null) as Record<string, FeatureProfile>;
  featureNames.forEach((name, j) => {
    const column = X.map((row) => {
      const v = row[j];
      if (v === undefined) throw new Error(`row has no column ${j} (${name})`);
      return v;
    });
    const s = sorted(column);
    const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, k) => quantileSorted(s, k / HISTOGRAM_BINS));
    const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
    for (const v of column) counts[binIndex(edges, v)]!++;
    const mu = mean(s);
    features[name] = {
      mean: mu,
      std: std(s, mu),
      min: s[0] as number,
      max: s[s.length - 1] as number,
      quantiles: PROFILE_QUANTILES.map((q) => quantileSorted(s, q)),
      histogram: { edges, counts },
    };
  });
  return {
    version: 1,
    rows: X.length,
    featureNames: [...featureNames],
    quantileLevels: [...PROFILE_QUANTILES],
    binning: 'deciles',
    features,
  };
}
