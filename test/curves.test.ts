import test from 'ava';

import { type Curve, calibrationBins, permutationImportance, prCurve, rocCurve } from '../training/curves.js';
import { type Matrix } from '../training/matrix.js';
import { rocAuc } from '../training/metrics.js';
import { Random } from '../training/random.js';

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Noisy scores for seeded labels; `grid` rounds them to create many ties. */
function noisy(seed: number, n: number, grid = 0): { y: number[]; score: number[] } {
  const rng = new Random(seed);
  const y = Array.from({ length: n }, () => (rng.next() < 0.35 ? 1 : 0));
  const score = y.map((v) => {
    const p = sigmoid(2 * v - 1 + rng.normal(0, 1.5));
    return grid > 0 ? Math.round(p * grid) / grid : p;
  });
  return { y, score };
}

function trapezoid(c: Curve): number {
  let area = 0;
  for (let i = 1; i < c.x.length; i++) area += ((c.x[i]! - c.x[i - 1]!) * (c.y[i]! + c.y[i - 1]!)) / 2;
  return area;
}

function nonDecreasing(values: readonly number[]): boolean {
  return values.every((v, i) => i === 0 || v >= values[i - 1]!);
}

function strictlyDecreasing(values: readonly number[]): boolean {
  return values.every((v, i) => i === 0 || v < values[i - 1]!);
}

test('rocCurve of a perfect separator passes through (0, 1) and runs from (0, 0) to (1, 1)', (t) => {
  const c = rocCurve([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]);
  t.deepEqual(c.x, [0, 0, 0, 0.5, 1]);
  t.deepEqual(c.y, [0, 0.5, 1, 1, 1]);
  t.deepEqual(c.thresholds, [1, 0.9, 0.8, 0.2, 0.1]);
  t.true(c.x.some((x, i) => x === 0 && c.y[i] === 1));
  t.is(trapezoid(c), 1);
});

test('rocCurve takes a tie group in one step (the diagonal for all-equal scores)', (t) => {
  const c = rocCurve([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]);
  t.deepEqual(c.x, [0, 1]);
  t.deepEqual(c.y, [0, 1]);
  t.deepEqual(c.thresholds, [1, 0.5]);
  // One tie group among distinct scores: the step crosses from (0, 0.5) to (0.5, 1) diagonally.
  const d = rocCurve([1, 0, 1, 0], [0.9, 0.6, 0.6, 0.1]);
  t.deepEqual(d.x, [0, 0, 0.5, 1]);
  t.deepEqual(d.y, [0, 0.5, 1, 1]);
});

test('rocCurve on scores outside [0, 1), or reaching 1, starts above the largest score', (t) => {
  const c = rocCurve([0, 1, 1], [-2, 3, 5]);
  t.deepEqual(c.thresholds, [6, 5, 3, -2]);
  t.deepEqual(rocCurve([0, 1], [0.2, 1]).thresholds, [2, 1, 0.2]);
  t.deepEqual(c.x, [0, 0, 0, 1]);
  t.deepEqual(c.y, [0, 0.5, 1, 1]);
});

test('the trapezoid area under rocCurve equals rocAuc, and the curve is monotone', (t) => {
  for (const [seed, grid] of [
    [1, 0],
    [2, 10],
    [3, 50],
  ] as const) {
    const { y, score } = noisy(seed, 500, grid);
    const c = rocCurve(y, score, 10_000);
    t.true(Math.abs(trapezoid(c) - rocAuc(y, score)) < 1e-12, `seed ${seed}`);
    t.true(nonDecreasing(c.x));
    t.true(nonDecreasing(c.y));
    t.true(strictlyDecreasing(c.thresholds.slice(1)));
    t.deepEqual([c.x[0], c.y[0]], [0, 0]);
    t.deepEqual([c.x.at(-1), c.y.at(-1)], [1, 1]);
    t.is(c.x.length, new Set(score).size + 1);
    t.is(c.y.length, c.x.length);
    t.is(c.thresholds.length, c.x.length);
  }
});

test('downsampling keeps both ends, respects maxPoints and keeps the curve monotone', (t) => {
  const { y, score } = noisy(4, 1000);
  const full = rocCurve(y, score, 100_000);
  t.is(full.x.length, 1001);
  for (const maxPoints of [2, 3, 7, 101, 1000]) {
    const c = rocCurve(y, score, maxPoints);
    t.is(c.x.length, maxPoints);
    t.is(c.y.length, maxPoints);
    t.is(c.thresholds.length, maxPoints);
    t.deepEqual([c.x[0], c.y[0], c.thresholds[0]], [full.x[0], full.y[0], full.thresholds[0]]);
    t.deepEqual([c.x.at(-1), c.y.at(-1), c.thresholds.at(-1)], [full.x.at(-1), full.y.at(-1), full.thresholds.at(-1)]);
    t.true(nonDecreasing(c.x));
    t.true(nonDecreasing(c.y));
    // Every kept point is a point of the full curve.
    const fullIndex = new Map(full.thresholds.map((th, i) => [th, i]));
    c.thresholds.slice(1).forEach((th, k) => {
      const i = fullIndex.get(th)!;
      t.is(c.x[k + 1], full.x[i]);
      t.is(c.y[k + 1], full.y[i]);
    });
  }
  // The default keeps at most 101 points; a short curve is returned whole.
  t.is(rocCurve(y, score).x.length, 101);
  t.is(rocCurve([0, 1], [0.3, 0.7], 2).x.length, 2);
  t.is(rocCurve([0, 1], [0.3, 0.7]).x.length, 3);
  const pr = prCurve(y, score, 11);
  t.is(pr.x.length, 11);
  t.deepEqual([pr.x.at(-1), pr.thresholds.at(-1)], [1, Math.min(...score)]);
  t.throws(() => rocCurve(y, score, 1), { message: /maxPoints/ });
});

test('rocCurve on a single class has no NaN and does not throw', (t) => {
  const allNeg = rocCurve([0, 0, 0], [0.2, 0.5, 0.9]);
  t.deepEqual(allNeg.y, [0, 0, 0, 0]);
  t.deepEqual(allNeg.x, [0, 1 / 3, 2 / 3, 1]);
  const allPos = rocCurve([1, 1], [0.2, 0.9]);
  t.deepEqual(allPos.x, [0, 0, 0]);
  t.deepEqual(allPos.y, [0, 0.5, 1]);
  const pr = prCurve([0, 0], [0.2, 0.9]);
  t.deepEqual(pr.x, [0, 0]);
  t.deepEqual(pr.y, [0, 0]);
  for (const c of [allNeg, allPos, pr]) t.true([...c.x, ...c.y, ...c.thresholds].every(Number.isFinite));
});

test('empty input gives empty curves and bins', (t) => {
  t.deepEqual(rocCurve([], []), { x: [], y: [], thresholds: [] });
  t.deepEqual(prCurve([], []), { x: [], y: [], thresholds: [] });
  t.deepEqual(calibrationBins([], []), []);
});

test('mismatched lengths throw an error naming both lengths', (t) => {
  t.throws(() => rocCurve([0, 1, 1], [0.5, 0.5]), { message: /3 labels, 2 scores/ });
  t.throws(() => prCurve([0], [0.5, 0.5]), { message: /1 labels, 2 scores/ });
  t.throws(() => calibrationBins([0, 1], [0.5]), { message: /2 labels, 1 probabilities/ });
  t.throws(() => rocCurve([0, 1], [0.5, NaN]), { message: /row 1 is NaN/ });
});

test('prCurve: one point per distinct threshold from the highest, ending at recall 1 and the positive share', (t) => {
  const c = prCurve([1, 0, 1, 0, 0], [0.9, 0.8, 0.8, 0.3, 0.1]);
  t.deepEqual(c.thresholds, [0.9, 0.8, 0.3, 0.1]);
  t.deepEqual(c.x, [0.5, 1, 1, 1]);
  t.deepEqual(c.y, [1, 2 / 3, 0.5, 0.4]);

  const { y, score } = noisy(5, 400, 20);
  const pr = prCurve(y, score, 10_000);
  const share = y.filter((v) => v === 1).length / y.length;
  t.is(pr.x.at(-1), 1);
  t.true(Math.abs(pr.y.at(-1)! - share) < 1e-15);
  t.is(pr.thresholds[0], Math.max(...score));
  t.true(strictlyDecreasing(pr.thresholds));
  t.true(nonDecreasing(pr.x));
  t.true(pr.y.every((p) => p > 0 && p <= 1));
  t.is(pr.x.length, new Set(score).size);
});

test('calibrationBins: equal-width bins, 1 in the last bin, empty bins omitted, counts sum to n', (t) => {
  const bins = calibrationBins([0, 1, 1, 0, 1], [0, 0.05, 0.55, 0.95, 1], 10);
  t.deepEqual(bins, [
    { meanPredicted: 0.025, fractionPositive: 0.5, count: 2 },
    { meanPredicted: 0.55, fractionPositive: 1, count: 1 },
    { meanPredicted: 0.975, fractionPositive: 0.5, count: 2 },
  ]);
  t.deepEqual(calibrationBins([1], [1], 4), [{ meanPredicted: 1, fractionPositive: 1, count: 1 }]);
  t.throws(() => calibrationBins([1], [1.5]), { message: /\[0, 1\]/ });
  t.throws(() => calibrationBins([1], [0.5], 0), { message: /bins/ });
});

test('calibrationBins of a perfectly calibrated predictor tracks the diagonal', (t) => {
  const rng = new Random(11);
  const n = 20_000;
  const proba = Array.from({ length: n }, () => rng.next());
  const y = proba.map((p) => (rng.next() < p ? 1 : 0));
  const bins = calibrationBins(y, proba, 10);
  t.is(bins.length, 10);
  t.is(
    bins.reduce((s, b) => s + b.count, 0),
    n,
  );
  bins.forEach((b, k) => {
    t.true(b.meanPredicted >= k / 10 && b.meanPredicted < (k + 1) / 10);
    // Standard error is at most sqrt(0.25 / ~2000) ~ 0.011; allow 4 of them.
    t.true(Math.abs(b.fractionPositive - b.meanPredicted) < 0.045, `bin ${k}: ${JSON.stringify(b)}`);
  });
});

/** Rows of three independent normal features and labels driven by feature 0 (and a little by 1). */
function importanceData(seed: number, n: number): { X: number[][]; y: number[] } {
  const rng = new Random(seed);
  const X = Array.from({ length: n }, () => [rng.normal(), rng.normal(), rng.normal()]);
  const y = X.map((r) => (rng.next() < sigmoid(3 * r[0]! + 0.5 * r[1]!) ? 1 : 0));
  return { X, y };
}

test('permutationImportance ranks a used feature above an ignored one, which gets exactly 0', async (t) => {
  const { X, y } = importanceData(21, 300);
  const before = JSON.stringify(X);
  let calls = 0;
  const predict = async (M: Matrix): Promise<number[]> => {
    calls++;
    return M.map((r) => sigmoid(3 * r[0]! + 0.5 * r[1]!));
  };
  const result = await permutationImportance(X, y, ['strong', 'weak', 'unused'], predict);
  t.deepEqual(
    result.map((r) => r.feature),
    ['strong', 'weak', 'unused'],
  );
  t.true(result[0]!.importance > 0.2);
  t.true(result[1]!.importance > 0);
  t.is(result[2]!.importance, 0);
  t.is(calls, 1 + 3 * 3); // baseline + features x default repeats
  t.is(JSON.stringify(X), before, 'X is not modified');
});

test('permutationImportance is deterministic for a seed and sorted descending', async (t) => {
  const { X, y } = importanceData(22, 200);
  // A synchronous predictor that ignores feature 0 (the one the labels follow) and uses features 1 and 2.
  const predict = (M: Matrix): number[] => M.map((r) => sigmoid(3 * r[2]! - r[1]!));
  const names = ['a', 'b', 'c'];
  const a = await permutationImportance(X, y, names, predict, { seed: 7, repeats: 5 });
  const b = await permutationImportance(X, y, names, predict, { seed: 7, repeats: 5 });
  const c = await permutationImportance(X, y, names, predict, { seed: 8, repeats: 5 });
  t.deepEqual(a, b);
  t.notDeepEqual(
    a.map((r) => r.importance),
    c.map((r) => r.importance),
  );
  t.true(nonDecreasing(a.map((r) => -r.importance)));
  t.is(a.find((r) => r.feature === 'a')!.importance, 0);
  t.is(a.length, 3);
});

test('permutationImportance falls back to accuracy when the labels hold one class', async (t) => {
  // All labels are 1, so the AUC is NaN; the baseline accuracy is 1 (every product x0 * x1 is
  // positive) and shuffling either column pairs signs wrongly, so accuracy drops.
  const X = [
    [1, 1],
    [2, 2],
    [-1, -1],
    [-2, -2],
    [3, 3],
    [-3, -3],
  ];
  const y = X.map(() => 1);
  const result = await permutationImportance(X, y, ['x0', 'x1'], (M) => M.map((row) => sigmoid(10 * row[0]! * row[1]!)), {
    repeats: 5,
  });
  for (const r of result) {
    t.true(Number.isFinite(r.importance));
    t.true(r.importance > 0 && r.importance <= 1, JSON.stringify(r));
    // A drop in accuracy over 6 rows averaged over 5 repeats is a multiple of 1/30.
    t.true(Math.abs(r.importance * 30 - Math.round(r.importance * 30)) < 1e-9);
  }
});

test('permutationImportance validates its inputs', async (t) => {
  const predict = (M: Matrix): number[] => M.map(() => 0.5);
  await t.throwsAsync(permutationImportance([[1], [2]], [0], ['x'], predict), { message: /2 rows but y has 1 labels/ });
  await t.throwsAsync(permutationImportance([[1], [2]], [0, 1], ['x', 'y'], predict), { message: /2 feature names for 1 features/ });
  await t.throwsAsync(
    permutationImportance([[1], [2]], [0, 1], ['x'], () => [0.5]),
    { message: /1 probabilities for 2 rows/ },
  );
  await t.throwsAsync(permutationImportance([[1], [2]], [0, 1], ['x'], predict, { repeats: 0 }), { message: /repeats/ });
});
