/**
 * Evaluation curves for a binary classifier: the ROC and precision-recall curves (one point
 * per distinct score, ties taken together as scikit-learn's roc_curve does with
 * drop_intermediate=False), reliability (calibration) bins, and permutation feature
 * importance. Pure functions over labels (1 is the positive class, anything else negative,
 * as in metrics.ts) and scores; every value they return is finite, so results serialise to
 * JSON unchanged.
 */
import { type Matrix, width } from './matrix.js';
import { accuracy, labelsFromProba, rocAuc } from './metrics.js';
import { Random } from './random.js';

export interface Curve {
  readonly x: number[];
  readonly y: number[];
  readonly thresholds: number[];
}

export interface CalibrationBin {
  readonly meanPredicted: number;
  readonly fractionPositive: number;
  readonly count: number;
}

export interface FeatureImportance {
  readonly feature: string;
  readonly importance: number;
}

function sameLength(yTrue: ArrayLike<unknown>, score: ArrayLike<unknown>, what: string): void {
  if (yTrue.length !== score.length) throw new Error(`length mismatch: ${yTrue.length} labels, ${score.length} ${what}`);
}

function assertFinite(values: readonly number[], what: string): void {
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`${what} at row ${i} is ${v}; expected a finite number`);
  });
}

function assertMaxPoints(maxPoints: number): void {
  if (!Number.isInteger(maxPoints) || maxPoints < 2) throw new Error(`maxPoints must be an integer >= 2, got ${maxPoints}`);
}

/** Cumulative counts at each distinct score, highest score first; a tie group enters at once. */
interface Steps {
  readonly thresholds: number[];
  readonly tp: number[];
  readonly fp: number[];
  readonly positives: number;
  readonly negatives: number;
}

function steps(yTrue: readonly number[], score: readonly number[]): Steps {
  const order = score.map((_, i) => i).sort((a, b) => (score[b] as number) - (score[a] as number));
  const thresholds: number[] = [];
  const tp: number[] = [];
  const fp: number[] = [];
  let t = 0;
  let f = 0;
  for (let i = 0; i < order.length;) {
    const s = score[order[i] as number] as number;
    while (i < order.length && score[order[i] as number] === s) {
      if (yTrue[order[i] as number] === 1) t++;
      else f++;
      i++;
    }
    thresholds.push(s);
    tp.push(t);
    fp.push(f);
  }
  return { thresholds, tp, fp, positives: t, negatives: f };
}

/** At most maxPoints points: the first, the last and an evenly spaced subset by index between them. */
function downsample(curve: Curve, maxPoints: number): Curve {
  const n = curve.x.length;
  if (n <= maxPoints) return curve;
  const keep = Array.from({ length: maxPoints }, (_, k) => Math.round((k * (n - 1)) / (maxPoints - 1)));
  const pick = (values: number[]): number[] => keep.map((i) => values[i] as number);
  return { x: pick(curve.x), y: pick(curve.y), thresholds: pick(curve.thresholds) };
}

/**
 * ROC curve: x = false positive rate, y = true positive rate, one point per distinct score
 * threshold (descending; a row is predicted positive when score >= threshold), starting at
 * (0, 0) and ending at (1, 1). The first point stands for threshold +Infinity and stores a
 * finite, JSON-safe stand-in above every score: 1 when every score lies in [0, 1) (the usual
 * probabilities), otherwise the largest score plus 1. When the labels hold one class, the rate
 * whose denominator is 0 is reported as 0. More than maxPoints points are downsampled evenly
 * by index, always keeping both ends.
 */
export function rocCurve(yTrue: readonly number[], score: readonly number[], maxPoints = 101): Curve {
  sameLength(yTrue, score, 'scores');
  assertMaxPoints(maxPoints);
  assertFinite(score, 'score');
  if (score.length === 0) return { x: [], y: [], thresholds: [] };
  const s = steps(yTrue, score);
  const top = s.thresholds[0] as number;
  const bottom = s.thresholds[s.thresholds.length - 1] as number;
  const start = bottom >= 0 && top < 1 ? 1 : top + 1;
  const rate = (count: number, total: number): number => (total === 0 ? 0 : count / total);
  const curve: Curve = {
    x: [0, ...s.fp.map((f) => rate(f, s.negatives))],
    y: [0, ...s.tp.map((t) => rate(t, s.positives))],
    thresholds: [start, ...s.thresholds],
  };
  return downsample(curve, maxPoints);
}

/**
 * Precision-recall curve: x = recall, y = precision, one point per distinct score threshold,
 * beginning at the highest (descending; positive when score >= threshold). Every such
 * threshold predicts at least one positive, so no point has an undefined precision (there
 * is no synthetic (0, 1) start point). The last point has recall 1 and precision equal to
 * the positive share; with no positive labels recall is reported as 0. The same maxPoints
 * rule as rocCurve.
 */
export function prCurve(yTrue: readonly number[], score: readonly number[], maxPoints = 101): Curve {
  sameLength(yTrue, score, 'scores');
  assertMaxPoints(maxPoints);
  assertFinite(score, 'score');
  if (score.length === 0) return { x: [], y: [], thresholds: [] };
  const s = steps(yTrue, score);
  const curve: Curve = {
    x: s.tp.map((t) => (s.positives === 0 ? 0 : t / s.positives)),
    y: s.tp.map((t, i) => t / (t + (s.fp[i] as number))),
    thresholds: s.thresholds,
  };
  return downsample(curve, maxPoints);
}

/**
 * Reliability diagram bins: `bins` equal-width bins over [0, 1] (bin k holds
 * k/bins <= p < (k+1)/bins; a probability of exactly 1 falls in the last bin), each with
 * the mean predicted probability, the fraction of positive labels and the row count. Empty
 * bins are omitted, so the result is in increasing bin order and the counts sum to n.
 */
export function calibrationBins(yTrue: readonly number[], proba: readonly number[], bins = 10): CalibrationBin[] {
  sameLength(yTrue, proba, 'probabilities');
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`bins must be a positive integer, got ${bins}`);
  const sumP = new Float64Array(bins);
  const positives = new Float64Array(bins);
  const counts = new Float64Array(bins);
  proba.forEach((p, i) => {
    if (!(p >= 0 && p <= 1)) throw new Error(`probability at row ${i} is ${p}; expected a number in [0, 1]`);
    const k = Math.min(bins - 1, Math.floor(p * bins));
    sumP[k]! += p;
    if (yTrue[i] === 1) positives[k]!++;
    counts[k]!++;
  });
  const out: CalibrationBin[] = [];
  for (let k = 0; k < bins; k++) {
    const count = counts[k]!;
    if (count > 0) out.push({ meanPredicted: sumP[k]! / count, fractionPositive: positives[k]! / count, count });
  }
  return out;
}

/**
 * Permutation importance: for each feature, the mean drop in ROC AUC (metrics.ts rocAuc)
 * over `repeats` seeded shuffles of that column (other columns untouched), against the
 * AUC of the unshuffled rows. When the AUC is NaN (the labels hold one class) the score is
 * accuracy at threshold 0.5 instead. `predict` returns P(class 1) per row and may be async;
 * it is called once for the baseline and once per feature and repeat, one call at a time,
 * with fresh number[] rows (X itself is never modified). A feature the predictor ignores
 * gets exactly 0. Sorted by importance, descending (ties keep the feature order).
 * Deterministic for a given seed (default 42; repeats default 3).
 */
export async function permutationImportance(
  X: Matrix,
  y: readonly number[],
  featureNames: readonly string[],
  predict: (X: Matrix) => number[] | Promise<number[]>,
  options: { readonly seed?: number; readonly repeats?: number } = {},
): Promise<FeatureImportance[]> {
  const seed = options.seed ?? 42;
  const repeats = options.repeats ?? 3;
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`repeats must be a positive integer, got ${repeats}`);
  if (X.length !== y.length) throw new Error(`length mismatch: X has ${X.length} rows but y has ${y.length} labels`);
  const f = width(X);
  if (featureNames.length !== f) throw new Error(`length mismatch: ${featureNames.length} feature names for ${f} features`);

  const rows = X.map((row) => Array.from(row));
  const score = async (matrix: Matrix): Promise<number> => {
    const proba = await predict(matrix);
    if (proba.length !== matrix.length)
      throw new Error(`length mismatch: predict returned ${proba.length} probabilities for ${matrix.length} rows`);
    const auc = rocAuc(y, proba);
    return Number.isNaN(auc) ? accuracy(y, labelsFromProba(proba)) : auc;
  };

  const baseline = await score(rows.map((row) => row.slice()));
  const rng = new Random(seed);
  const out: FeatureImportance[] = [];
  for (let j = 0; j < f; j++) {
    let drop = 0;
    for (let r = 0; r < repeats; r++) {
      const perm = rng.shuffle(rows.map((_, i) => i));
      const shuffled = rows.map((row, i) => {
        const copy = row.slice();
        copy[j] = (rows[perm[i] as number] as number[])[j] as number;
        return copy;
      });
      drop += baseline - (await score(shuffled));
    }
    out.push({ feature: featureNames[j] as string, importance: drop / repeats });
  }
  return out.sort((a, b) => b.importance - a.importance);
}
