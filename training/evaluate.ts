/**
 * Evaluating a model version on labelled data, and the promotion rule: does a candidate beat
 * what is in production? Works on any binary classifier ONNX (see onnx-run.ts for how the
 * probability output is found), including models trained elsewhere.
 */
import {
  type CalibrationBin,
  type Curve,
  type FeatureImportance,
  calibrationBins,
  permutationImportance,
  prCurve,
  rocCurve,
} from './curves.js';
import { type CsvTable, toMatrix } from './data/csv.js';
import type { TableLike } from './data/generate.js';
import { type Matrix, assertBinaryLabels } from './matrix.js';
import {
  type ClassificationMetrics,
  type ConfusionMatrix,
  LOWER_IS_BETTER,
  METRIC_NAMES,
  type MetricName,
  classificationMetrics,
  confusionMatrix,
  labelsFromProba,
} from './metrics.js';
import { classifierIo, onnxProbabilities } from './onnx-run.js';

export interface Evaluation {
  readonly rows: number;
  /** Rows labelled 1. */
  readonly positives: number;
  readonly metrics: ClassificationMetrics;
  /** [[tn, fp], [fn, tp]] at threshold 0.5 (the label the server answers). */
  readonly confusionMatrix: ConfusionMatrix;
  readonly curves: EvaluationCurves;
}

/** What the console and `quiver evaluate --html` plot, stored with the version in the registry. */
export interface EvaluationCurves {
  readonly roc: Curve;
  readonly pr: Curve;
  readonly calibration: CalibrationBin[];
  readonly featureImportance: FeatureImportance[];
}

/**
 * The curves of P(class 1) `proba` against labels `y`, and the permutation importance of the
 * columns of X under `predict` (which must give `proba` for X itself).
 */
export async function evaluationCurves(
  X: Matrix,
  y: readonly number[],
  proba: readonly number[],
  featureNames: readonly string[],
  predict: (X: Matrix) => number[] | Promise<number[]>,
): Promise<EvaluationCurves> {
  return {
    roc: rocCurve(y, proba),
    pr: prCurve(y, proba),
    calibration: calibrationBins(y, proba),
    featureImportance: await permutationImportance(X, y, featureNames, predict),
  };
}

export async function evaluateOnnx(
  onnxBytes: Uint8Array,
  X: Matrix,
  y: readonly number[],
  featureNames: readonly string[],
): Promise<Evaluation> {
  // A test set of one class is allowed: metrics are defined, except ROC AUC (NaN).
  assertBinaryLabels(X, y, true);
  const predict = (rows: Matrix): Promise<number[]> => onnxProbabilities(onnxBytes, rows);
  const proba = await predict(X);
  return {
    rows: y.length,
    positives: y.reduce((a, b) => a + b, 0),
    metrics: classificationMetrics(y, proba),
    confusionMatrix: confusionMatrix(y, labelsFromProba(proba)),
    curves: await evaluationCurves(X, y, proba, featureNames, predict),
  };
}

/**
 * Evaluates on a table (a CSV as read, or generated data), taking the columns the model names
 * in its feature-names metadata in the model's order, or every non-target column when it
 * names none.
 */
export async function evaluateOnnxOnTable(
  onnxBytes: Uint8Array,
  table: CsvTable | TableLike,
  options: { readonly target?: string } = {},
): Promise<Evaluation & { readonly featureNames: string[] }> {
  const { featureNames } = classifierIo(onnxBytes);
  const m = toMatrix(table, { ...options, ...(featureNames === null ? {} : { features: featureNames }) });
  return { ...(await evaluateOnnx(onnxBytes, m.X, m.y, m.featureNames)), featureNames: m.featureNames };
}

export interface Comparison {
  readonly metric: MetricName;
  readonly margin: number;
  /** True when there is no production model, or the candidate's improvement is greater than the margin. */
  readonly beats: boolean;
  readonly candidate: number;
  readonly production: number | null;
  /** How much better the candidate is on `metric` (production - candidate for log loss), null without production. */
  readonly improvement: number | null;
  /** candidate - production for every metric (raw differences: negative log-loss deltas are better). */
  readonly deltas: Record<MetricName, number> | null;
}

export function compareModels(
  candidate: ClassificationMetrics,
  production: ClassificationMetrics | null,
  margin = 0,
  metric: MetricName = 'accuracy',
): Comparison {
  if (!METRIC_NAMES.includes(metric)) throw new Error(`unknown metric '${metric}' (known: ${METRIC_NAMES.join(', ')})`);
  if (!Number.isFinite(margin)) throw new Error(`margin must be a finite number, got ${margin}`);
  if (production === null) {
    return { metric, margin, beats: true, candidate: candidate[metric], production: null, improvement: null, deltas: null };
  }
  const deltas = Object.fromEntries(METRIC_NAMES.map((m) => [m, candidate[m] - production[m]])) as Record<MetricName, number>;
  const improvement = LOWER_IS_BETTER.has(metric) ? -deltas[metric] : deltas[metric];
  return { metric, margin, beats: improvement > margin, candidate: candidate[metric], production: production[metric], improvement, deltas };
}
