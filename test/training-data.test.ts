import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { python } from './helpers/python.js';

import { parseCsv, readCsv, toMatrix } from '../training/data/csv.js';
import { SHIFTED, formatCsv, generateDataset, writeCsv } from '../training/data/generate.js';
import { Random } from '../training/random.js';
import { splitIndices } from '../training/split.js';
import { tmp } from './helpers/fixtures.js';

const dir = tmp('quiver-training-data-');

test('Random: the same seed gives the same stream, other seeds another', (t) => {
  const draw = (seed: number): number[] => {
    const r = new Random(seed);
    return Array.from({ length: 50 }, () => r.next());
  };
  t.deepEqual(draw(7), draw(7));
  t.notDeepEqual(draw(7), draw(8));
  for (const v of draw(1)) t.true(v >= 0 && v < 1);
});

test('Random.normal has the requested mean and standard deviation', (t) => {
  const r = new Random(3);
  const n = 40_000;
  const xs = Array.from({ length: n }, () => r.normal(2, 3));
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  t.true(Math.abs(mean - 2) < 0.05, `mean ${mean}`);
  t.true(Math.abs(std - 3) < 0.05, `std ${std}`);
  // About 68% within one sigma: it is normal, not just centred.
  const within = xs.filter((x) => Math.abs(x - 2) < 3).length / n;
  t.true(Math.abs(within - 0.6827) < 0.01, `within 1 sigma ${within}`);
});

test('Random.shuffle is a seeded permutation', (t) => {
  const a = new Random(5).shuffle(Array.from({ length: 100 }, (_, i) => i));
  const b = new Random(5).shuffle(Array.from({ length: 100 }, (_, i) => i));
  t.deepEqual(a, b);
  t.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  t.notDeepEqual(
    a,
    Array.from({ length: 100 }, (_, i) => i),
  );
});

test("generateDataset: the blueprint's columns, rows and target rule; deterministic per seed", (t) => {
  const ds = generateDataset();
  t.deepEqual(ds.columns, [...Array.from({ length: 10 }, (_, i) => `feature_${i}`), 'target']);
  t.is(ds.rows.length, 1000);
  for (const row of ds.rows) {
    t.is(row.length, 11);
    t.is(row[10], row[0]! + row[1]! + 0.5 * row[2]! > 0 ? 1 : 0);
  }
  t.deepEqual(generateDataset({ seed: 42 }), ds);
  t.notDeepEqual(generateDataset({ seed: 43 }).rows, ds.rows);
  const share = ds.rows.filter((r) => r[10] === 1).length / 1000;
  t.true(share > 0.4 && share < 0.6, `positive share ${share}`);
});

test("generateDataset: Flow 1's shifted data (mean 0.2, std 1.2, weights [1, 1, 0.3])", (t) => {
  const ds = generateDataset({ rows: 5000, seed: SHIFTED.seed, mean: SHIFTED.mean, std: SHIFTED.std, weights: SHIFTED.weights });
  t.is(ds.rows.length, 5000);
  for (const row of ds.rows) t.is(row[10], row[0]! + row[1]! + 0.3 * row[2]! > 0 ? 1 : 0);
  const values = ds.rows.flatMap((r) => r.slice(0, 10));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  t.true(Math.abs(mean - 0.2) < 0.03, `mean ${mean}`);
  t.true(Math.abs(std - 1.2) < 0.03, `std ${std}`);
  t.throws(() => generateDataset({ rows: -1 }), { message: /rows/ });
  t.throws(() => generateDataset({ weights: new Array(11).fill(1) }), { message: /weights/ });
});

test('writeCsv writes a standard CSV (header, target last) that reads back to the same numbers, here and in Python', async (t) => {
  const ds = generateDataset({ rows: 200, seed: 9 });
  const path = join(dir, 'sample.csv');
  writeCsv(path, ds);
  const text = readFileSync(path, 'utf8');
  t.is(text, formatCsv(ds));
  t.true(text.startsWith('feature_0,feature_1,feature_2,feature_3,feature_4,feature_5,feature_6,feature_7,feature_8,feature_9,target\n'));
  const csv = readCsv(path);
  t.is(csv.rows.length, 200);
  const m = toMatrix(csv);
  t.deepEqual(m.featureNames, ds.columns.slice(0, 10));
  t.deepEqual(
    m.X,
    ds.rows.map((r) => r.slice(0, 10)),
  );
  t.deepEqual(
    m.y,
    ds.rows.map((r) => r[10]),
  );
  // Python's csv module reads the same table and the rule holds on its numbers.
  const py = await python<{ rows: number; mismatches: number; header: string[] }>(
    `
import csv, json, sys
path = json.load(sys.stdin)
with open(path, newline='') as fh:
    rows = list(csv.reader(fh))
header, data = rows[0], rows[1:]
mismatches = sum(1 for r in data if int(r[10]) != int(float(r[0]) + float(r[1]) + 0.5 * float(r[2]) > 0))
print(json.dumps({'rows': len(data), 'mismatches': mismatches, 'header': header}))
`,
    path,
  );
  t.deepEqual(py, { rows: 200, mismatches: 0, header: ds.columns as string[] });
});

test('toMatrix: errors name the column, row and line of the bad cell', (t) => {
  const csv = parseCsv('a,b,target\n1,2,0\n\n3,abc,1\n');
  t.throws(() => toMatrix(csv), { message: `column 'b', row 2 (line 4): "abc" is not a number` });
  t.throws(() => toMatrix(parseCsv('a,target\n1,0\n,1\n')), { message: `column 'a', row 2 (line 3): missing value ""` });
  t.throws(() => toMatrix(parseCsv('a,target\n0x10,1\n')), { message: /"0x10" is not a number/ });
  t.throws(() => toMatrix(parseCsv('a,label\n1,0\n')), { message: "column 'target' not found (columns: a, label)" });
  t.throws(() => toMatrix(parseCsv('a,b,target\n1,2\n')), { message: 'row 1 (line 2) has 2 fields, the header 3' });
  const ok = toMatrix(parseCsv('a,label,b\n1,0,2.5e-1\n-3,1,.5\n'), { target: 'label', features: ['b', 'a'] });
  t.deepEqual(ok, {
    featureNames: ['b', 'a'],
    X: [
      [0.25, 1],
      [0.5, -3],
    ],
    y: [0, 1],
  });
});

test('splitIndices: seeded, disjoint, covering; holdout rounds up; stratified keeps the label mix', (t) => {
  const s = splitIndices(101, { holdout: 0.2, seed: 1 });
  t.is(s.holdout.length, 21);
  t.is(s.train.length, 80);
  t.deepEqual(
    [...s.train, ...s.holdout].sort((a, b) => a - b),
    Array.from({ length: 101 }, (_, i) => i),
  );
  t.deepEqual(splitIndices(101, { holdout: 0.2, seed: 1 }), s);
  t.notDeepEqual(splitIndices(101, { holdout: 0.2, seed: 2 }), s);
  t.is(splitIndices(10, { holdout: 0 }).holdout.length, 0);
  t.throws(() => splitIndices(10, { holdout: 1 }), { message: /holdout/ });

  const y = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 1 : 0)); // 10% positives
  const st = splitIndices(1000, { holdout: 0.2, seed: 3, stratify: y });
  t.is(st.holdout.length, 200);
  t.is(st.holdout.filter((i) => y[i] === 1).length, 20);
  t.is(st.train.filter((i) => y[i] === 1).length, 80);
  t.deepEqual(
    [...st.train, ...st.holdout].sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => i),
  );
});
