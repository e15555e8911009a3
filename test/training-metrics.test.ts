import test from 'ava';

import { python } from './helpers/python.js';

import { binIndex } from '../src/monitoring/drift-statistics.js';
import { generateDataset } from '../training/data/generate.js';
import {
  type ClassificationMetrics,
  accuracy,
  classificationMetrics,
  confusionMatrix,
  f1,
  labelsFromProba,
  logLoss,
  precision,
  recall,
  rocAuc,
} from '../training/metrics.js';
import { trainingProfile } from '../training/profile.js';
import { Random } from '../training/random.js';

interface Case {
  readonly y: number[];
  readonly p: number[];
}

/** Labels and scores with many ties (scores on a 0.1 grid) and exact 0 and 1 scores, which log loss must clip. */
function cases(): Case[] {
  const rng = new Random(17);
  const out: Case[] = [];
  for (const n of [7, 50, 400]) {
    const y = Array.from({ length: n }, () => (rng.next() < 0.4 ? 1 : 0));
    const tied = y.map((v) => Math.round(Math.min(1, Math.max(0, 0.5 + (v - 0.5) * 0.6 + rng.normal(0, 0.3))) * 10) / 10);
    const smooth = y.map((v) => 1 / (1 + Math.exp(-(2 * v - 1 + rng.normal(0, 1.5)))));
    out.push({ y, p: tied }, { y, p: smooth });
  }
  // Every prediction negative: precision, recall and F1 are 0 (scikit-learn's zero_division=0).
  out.push({ y: [0, 1, 1, 0, 1], p: [0.1, 0.2, 0.3, 0.4, 0.5] });
  return out;
}

test('accuracy, precision, recall, F1, ROC AUC, log loss and the confusion matrix agree with sklearn.metrics', async (t) => {
  const all = cases();
  const ours = all.map(({ y, p }) => ({ ...classificationMetrics(y, p), cm: confusionMatrix(y, labelsFromProba(p)) }));
  const theirs = await python<(ClassificationMetrics & { cm: number[][] })[]>(
    `
import json, sys, warnings
import numpy as np
from sklearn import metrics
warnings.simplefilter('ignore')
out = []
for case in json.load(sys.stdin):
    y = np.array(case['y']); p = np.array(case['p']); pred = (p > 0.5).astype(int)
    out.append({
        'accuracy': metrics.accuracy_score(y, pred),
        'precision': metrics.precision_score(y, pred, zero_division=0),
        'recall': metrics.recall_score(y, pred, zero_division=0),
        'f1': metrics.f1_score(y, pred, zero_division=0),
        'rocAuc': metrics.roc_auc_score(y, p),
        'logLoss': metrics.log_loss(y, p, eps=1e-15, labels=[0, 1]),
        'cm': metrics.confusion_matrix(y, pred, labels=[0, 1]).tolist(),
    })
print(json.dumps(out))
`,
    all,
  );
  t.is(ours.length, theirs.length);
  ours.forEach((mine, i) => {
    const ref = theirs[i]!;
    for (const key of ['accuracy', 'precision', 'recall', 'f1', 'rocAuc', 'logLoss'] as const) {
      t.true(Math.abs(mine[key] - ref[key]) < 1e-12, `case ${i} ${key}: ${mine[key]} vs sklearn ${ref[key]}`);
    }
    t.deepEqual(mine.cm, ref.cm, `case ${i} confusion matrix`);
  });
});

test('metric edge cases: ties in ROC AUC count half, a single class has no AUC, clipping bounds log loss', (t) => {
  t.is(rocAuc([0, 1], [0.5, 0.5]), 0.5);
  t.is(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75);
  t.true(Number.isNaN(rocAuc([1, 1, 1], [0.2, 0.5, 0.9])));
  t.is(logLoss([1], [0]), -Math.log(1e-15));
  t.is(logLoss([0], [0]), -Math.log(1 - 1e-15));
  t.deepEqual(confusionMatrix([0, 0, 1, 1, 1], [0, 1, 0, 1, 1]), [
    [1, 1],
    [1, 2],
  ]);
  t.is(accuracy([0, 1], [0, 0]), 0.5);
  t.is(precision([0, 1], [0, 0]), 0);
  t.is(recall([0, 1], [0, 1]), 1);
  t.is(f1([0, 0], [0, 0]), 0);
  t.deepEqual(labelsFromProba([0.5, 0.5000001, 0.2]), [0, 1, 0]);
  t.throws(() => accuracy([0, 1], [0]), { message: /length mismatch/ });
});

test('trainingProfile: statistics and quantiles agree with numpy; the decile histogram bins every row', async (t) => {
  const ds = generateDataset({ rows: 777, seed: 8 });
  const names = ds.columns.slice(0, 10);
  const X = ds.rows.map((r) => r.slice(0, 10));
  const profile = trainingProfile(names, X);
  t.is(profile.rows, 777);
  t.deepEqual(profile.featureNames, names);
  const np = await python<{ stats: number[][]; edges: number[][]; counts: number[][] }>(
    `
import json, sys, numpy as np
X = np.array(json.load(sys.stdin))
stats, edges, counts = [], [], []
for j in range(X.shape[1]):
    c = X[:, j]
    stats.append([c.mean(), c.std(), c.min(), c.max(), *np.quantile(c, [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])])
    e = np.quantile(c, np.linspace(0, 1, 11))
    edges.append(e.tolist())
    # bin = number of inner edges <= value, i.e. right-open bins with open outer ends
    counts.append(np.bincount(np.searchsorted(e[1:-1], c, side='right'), minlength=10).tolist())
print(json.dumps({'stats': [[float(v) for v in s] for s in stats], 'edges': edges, 'counts': counts}))
`,
    X,
  );
  names.forEach((name, j) => {
    const f = profile.features[name]!;
    const mine = [f.mean, f.std, f.min, f.max, ...f.quantiles];
    mine.forEach((v, k) => t.true(Math.abs(v - np.stats[j]![k]!) < 1e-12, `${name} stat ${k}: ${v} vs ${np.stats[j]![k]}`));
    t.is(f.histogram.edges.length, 11);
    f.histogram.edges.forEach((e, k) => t.true(Math.abs(e - np.edges[j]![k]!) < 1e-12));
    t.deepEqual(f.histogram.counts, np.counts[j]);
    t.is(
      f.histogram.counts.reduce((a, b) => a + b, 0),
      777,
    );
  });
  // Live values outside the training range land in the outer bins.
  const edges = profile.features['feature_0']!.histogram.edges;
  t.is(binIndex(edges, -1e9), 0);
  t.is(binIndex(edges, 1e9), 9);
  t.is(binIndex(edges, edges[5]!), 5);
});

test('binIndex leaves bins between repeated edges empty (discrete features)', (t) => {
  const X = Array.from({ length: 100 }, (_, i) => [i < 70 ? 0 : i]);
  const { histogram } = trainingProfile(['x'], X).features['x']!;
  t.deepEqual(histogram.edges.slice(0, 7), [0, 0, 0, 0, 0, 0, 0]);
  t.true(histogram.edges[7]! > 0);
  t.is(
    histogram.counts.reduce((a, b) => a + b, 0),
    100,
  );
  t.is(histogram.counts[6], 70); // every 0 in the last bin whose left edge is 0
});
