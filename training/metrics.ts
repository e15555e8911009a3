/**
 * Binary classification metrics, defined as scikit-learn defines them (the tests compare
 * against sklearn.metrics): precision/recall/F1 of class 1 with 0 when undefined
 * (zero_division=0), ROC AUC from average ranks (ties count half), log loss with
 * probabilities clipped to [eps, 1 - eps].
 */

/** [[tn, fp], [fn, tp]], scikit-learn's layout for labels [0, 1]. */
export type ConfusionMatrix = [[number, number], [number, number]];

export interface ClassificationMetrics {
  readonly accuracy: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** NaN (null in JSON) when the labels hold a single class. */
  readonly rocAuc: number;
  readonly logLoss: number;
}

export const METRIC_NAMES = ['accuracy', 'precision', 'recall', 'f1', 'rocAuc', 'logLoss'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** Metrics where a smaller value is better. */
export const LOWER_IS_BETTER: ReadonlySet<MetricName> = new Set(['logLoss']);

function sameLength(a: ArrayLike<unknown>, b: ArrayLike<unknown>): void {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} labels, ${b.length} predictions`);
  if (a.length === 0) throw new Error('no rows to score');
}

export function confusionMatrix(yTrue: readonly number[], yPred: readonly number[]): ConfusionMatrix {
  sameLength(yTrue, yPred);
  let tn = 0;
  let fp = 0;
  let fn = 0;
  let tp = 0;
  yTrue.forEach((t, i) => {
    const p = yPred[i];
    if (t === 1) {
      if (p === 1) tp++;
      else fn++;
    } else if (p === 1) fp++;
    else tn++;
  });
  return [
    [tn, fp],
    [fn, tp],
  ];
}

export function accuracy(yTrue: readonly number[], yPred: readonly number[]): number {
  const [[tn], [, tp]] = confusionMatrix(yTrue, yPred);
  return (tn + tp) / yTrue.length;
}

export function precision(yTrue: readonly number[], yPred: readonly number[]): number {
  const [[, fp], [, tp]] = confusionMatrix(yTrue, yPred);
  return tp + fp === 0 ? 0 : tp / (tp + fp);
}

export function recall(yTrue: readonly number[], yPred: readonly number[]): number {
  const [, [fn, tp]] = confusionMatrix(yTrue, yPred);
  return tp + fn === 0 ? 0 : tp / (tp + fn);
}

export function f1(yTrue: readonly number[], yPred: readonly number[]): number {
  const [[, fp], [fn, tp]] = confusionMatrix(yTrue, yPred);
  return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
}

/** Area under the ROC curve: the Mann-Whitney U statistic with average ranks for tied scores. */
export function rocAuc(yTrue: readonly number[], score: readonly number[]): number {
  sameLength(yTrue, score);
  const order = score.map((_, i) => i).sort((a, b) => (score[a] as number) - (score[b] as number));
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && score[order[j + 1] as number] === score[order[i] as number]) j++;
    const avgRank = (i + j) / 2 + 1; // ranks are 1-based; a tie group shares its mean rank
    for (let k = i; k <= j; k++) {
      if (yTrue[order[k] as number] === 1) {
        positives++;
        rankSum += avgRank;
      }
    }
    i = j + 1;
  }
  const negatives = yTrue.length - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean negative log-likelihood of the labels under P(class 1) = proba, clipped to [eps, 1 - eps]. */
export function logLoss(yTrue: readonly number[], proba: readonly number[], eps = 1e-15): number {
  sameLength(yTrue, proba);
  let sum = 0;
  yTrue.forEach((t, i) => {
    const p = Math.min(1 - eps, Math.max(eps, proba[i] as number));
    sum -= t === 1 ? Math.log(p) : Math.log(1 - p);
  });
  return sum / yTrue.length;
}

/** Labels from P(class 1): 1 when p > 0.5, as argmax([1 - p, p]) picks (a tie goes to class 0). */
export function labelsFromProba(proba: readonly number[], threshold = 0.5): number[] {
  return proba.map((p) => (p > threshold ? 1 : 0));
}

export function classificationMetrics(yTrue: readonly number[], proba: readonly number[]): ClassificationMetrics {
  const yPred = labelsFromProba(proba);
  return {
    accuracy: accuracy(yTrue, yPred),
    precision: precision(yTrue, yPred),
    recall: recall(yTrue, yPred),
    f1: f1(yTrue, yPred),
    rocAuc: rocAuc(yTrue, proba),
    logLoss: logLoss(yTrue, proba),
  };
}
