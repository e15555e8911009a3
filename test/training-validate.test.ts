import { rmSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { python } from './helpers/python.js';

import { parseCsv, readCsv } from '../training/data/csv.js';
import { formatCsv, generateDataset, writeCsv } from '../training/data/generate.js';
import { type CheckName, type ValidationReport, validateDataset } from '../training/data/validate.js';
import { tmp } from './helpers/fixtures.js';

const dir = tmp('quiver-training-validate-');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const byName = (report: ValidationReport, name: CheckName) => {
  const c = report.checks.find((x) => x.name === name);
  if (c === undefined) throw new Error(`no check ${name}`);
  return c;
};

/** The checks that failed, by name. */
const failed = (report: ValidationReport): string[] => report.checks.filter((c) => !c.passed).map((c) => c.name);

/** A small valid table as CSV text, with the given extra lines appended. */
function table(lines: string[], header = 'a,b,target'): string {
  const rows = Array.from({ length: 40 }, (_, i) => `${(i * 0.37) % 3},${(i * 1.91) % 5},${i % 2}`);
  return [header, ...rows, ...lines].join('\n') + '\n';
}

test("the blueprint's data passes, and the report is plain JSON", (t) => {
  const path = join(dir, 'sample.csv');
  writeCsv(path, generateDataset());
  const report = validateDataset(readCsv(path));
  t.true(report.passed, JSON.stringify(failed(report)));
  t.is(report.rows, 1000);
  t.is(report.columns, 11);
  t.is(report.duplicates, 0);
  const counts = report.classBalance!.counts;
  t.is(counts['0']! + counts['1']!, 1000);
  t.deepEqual(Object.keys(counts), ['0', '1']);
  t.true(report.checks.every((c) => c.level !== 'error'));
  t.deepEqual(Object.keys(report.schema), [...Array.from({ length: 10 }, (_, i) => `feature_${i}`), 'target']);
  t.deepEqual(report.schema['target'], { type: 'integer', role: 'target', numeric: 1000, missing: 0, nonNumeric: 0 });
  t.is(report.schema['feature_3']?.type, 'float');
  t.deepEqual(JSON.parse(JSON.stringify(report)), { ...report });
});

test('per-feature summaries, ranges and class counts agree with numpy on the same file', async (t) => {
  const path = join(dir, 'summary.csv');
  writeCsv(path, generateDataset({ rows: 300, seed: 11, mean: 0.2, std: 1.2 }));
  const report = validateDataset(readCsv(path));
  const np = await python<Record<string, number[]>>(
    `
import json, sys, numpy as np
data = np.genfromtxt(json.load(sys.stdin), delimiter=',', names=True)
out = {}
for name in data.dtype.names:
    col = data[name]
    out[name] = [float(col.mean()), float(col.std()), float(col.min()), *[float(np.quantile(col, q)) for q in (0.25, 0.5, 0.75)], float(col.max())]
out['counts'] = [int((data['target'] == 0).sum()), int((data['target'] == 1).sum())]
print(json.dumps(out))
`,
    path,
  );
  for (let j = 0; j < 10; j++) {
    const name = `feature_${j}`;
    const s = report.features[name]!;
    const mine = [s.mean, s.std, s.min, s.p25, s.p50, s.p75, s.max];
    mine.forEach((v, k) => t.true(Math.abs(v - np[name]![k]!) < 1e-12, `${name}[${k}]: ${v} vs ${np[name]![k]}`));
    t.deepEqual(report.ranges[name], { min: np[name]![2]!, max: np[name]![6]! });
  }
  t.deepEqual([report.classBalance!.counts['0'], report.classBalance!.counts['1']], np['counts']);
  t.is(report.classBalance!.minorityShare, Math.min(...np['counts']!) / 300);
});

test('a missing target column fails', (t) => {
  const report = validateDataset(parseCsv(table([])), { target: 'label' });
  t.false(report.passed);
  t.deepEqual(failed(report), ['target_present', 'target_binary', 'class_balance']);
  t.regex(byName(report, 'target_present').message, /'label' not found/);
});

test('non-numeric values fail, naming the column, row and line', (t) => {
  const report = validateDataset(parseCsv(table(['1.5,oops,1'])));
  t.deepEqual(failed(report), ['numeric']);
  t.deepEqual(byName(report, 'numeric').details, { counts: { b: 1 }, examples: [{ column: 'b', row: 41, line: 42, value: 'oops' }] });
  t.is(report.schema['b']?.type, 'string');
});

test('missing values fail, counted per column', (t) => {
  const report = validateDataset(parseCsv(table(['1.5,,1', 'NA,2,0', 'nan,NULL,1'])));
  t.deepEqual(failed(report), ['no_missing']);
  t.deepEqual(report.missing, { a: 2, b: 2, target: 0 });
  t.deepEqual(byName(report, 'no_missing').details, { counts: { a: 2, b: 2 } });
});

test('an empty dataset fails (header only, and an empty file)', (t) => {
  const headerOnly = validateDataset(parseCsv('a,b,target\n'));
  t.false(headerOnly.passed);
  t.true(failed(headerOnly).includes('has_rows'));
  t.is(headerOnly.rows, 0);
  const empty = validateDataset(parseCsv(''));
  t.false(empty.passed);
  t.true(failed(empty).includes('has_rows'));
  t.true(failed(empty).includes('target_present'));
});

test('a target that is not binary 0/1 fails', (t) => {
  const report = validateDataset(parseCsv(table(['1,1,2', '1,2,yes'])));
  t.true(failed(report).includes('target_binary'));
  t.deepEqual(byName(report, 'target_binary').details, { otherValues: ['2', 'yes'] });
  // "1.0" is class 1.
  t.true(validateDataset(parseCsv(table(['1,1,1.0']))).passed);
});

test('class imbalance fails below the configurable minority share', (t) => {
  const rows = Array.from({ length: 100 }, (_, i) => `${i},${i * 2},${i < 5 ? 1 : 0}`);
  const csv = parseCsv(['a,b,target', ...rows].join('\n'));
  const report = validateDataset(csv);
  t.deepEqual(failed(report), ['class_balance']);
  t.like(report.classBalance, { counts: { 0: 95, 1: 5 }, minorityClass: '1', minorityShare: 0.05, threshold: 0.1 });
  t.true(validateDataset(csv, { minMinorityShare: 0.05 }).passed);
  const oneClass = validateDataset(parseCsv('a,target\n1,0\n2,0\n'));
  t.is(oneClass.classBalance?.minorityShare, 0);
  t.true(failed(oneClass).includes('class_balance'));
});

test('duplicates warn, and fail above the configurable fraction', (t) => {
  const few = validateDataset(parseCsv(table(['0,0,0'])));
  // Row 1 is "0,0,0" as well.
  t.true(few.passed);
  t.is(few.duplicates, 1);
  t.like(byName(few, 'duplicates'), { level: 'warning', passed: true, details: { count: 1, examples: [{ row: 41, sameAs: 1 }] } });
  const many = validateDataset(parseCsv(table(['0,0,0', '0,0,0', '0,0,0'])));
  t.is(many.duplicates, 3);
  t.like(byName(many, 'duplicates'), { level: 'error', passed: false });
  t.false(many.passed);
  t.true(validateDataset(parseCsv(table(['0,0,0', '0,0,0', '0,0,0'])), { maxDuplicateFraction: 0.1 }).passed);
});

test('outliers (|z| > 4) warn, and fail above the configurable fraction per feature', (t) => {
  const ds = generateDataset({ rows: 1000, seed: 5 });
  const withOutliers = (count: number): string => {
    const rows = ds.rows.map((r, i) => (i < count ? [50, ...r.slice(1)] : r));
    return formatCsv({ columns: ds.columns, rows });
  };
  const one = validateDataset(parseCsv(withOutliers(1)));
  t.true(one.passed);
  t.is(one.outliers.method, 'z-score');
  t.is(one.outliers.threshold, 4);
  t.true(one.outliers.counts['feature_0']! >= 1);
  t.like(byName(one, 'outliers'), { level: 'warning', passed: true });
  const many = validateDataset(parseCsv(withOutliers(30)));
  t.is(many.outliers.counts['feature_0'], 30);
  t.like(byName(many, 'outliers'), { level: 'error', passed: false, details: { overLimit: ['feature_0'] } });
  t.true(validateDataset(parseCsv(withOutliers(30)), { maxOutlierFraction: 0.05 }).passed);
});

test('ragged rows and repeated column names fail', (t) => {
  const ragged = validateDataset(parseCsv(table(['1,2', '1,2,0,9'])));
  t.true(failed(ragged).includes('row_width'));
  t.deepEqual(byName(ragged, 'row_width').details, {
    count: 2,
    examples: [
      { row: 41, line: 42, fields: 2 },
      { row: 42, line: 43, fields: 4 },
    ],
  });
  const repeated = validateDataset(parseCsv(table([], 'a,a,target')));
  t.deepEqual(failed(repeated), ['unique_columns']);
});
