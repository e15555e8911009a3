import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { buildOnnxModel } from '../src/onnx/builder.js';
import { ALGORITHM_NAMES } from '../training/algorithms/index.js';
import { readCsv, toMatrix } from '../training/data/csv.js';
import { SHIFTED, formatCsv, generateDataset, writeCsv } from '../training/data/generate.js';
import { compareModels, evaluateOnnx, evaluateOnnxOnTable } from '../training/evaluate.js';
import { takeRows } from '../training/matrix.js';
import { type ClassificationMetrics } from '../training/metrics.js';
import { splitIndices } from '../training/split.js';
import { trainModel, trainingReport } from '../training/train.js';
import { tmp } from './helpers/fixtures.js';

const dir = tmp('quiver-training-pipeline-');
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const samplePath = join(dir, 'sample_training_data.csv');
const newPath = join(dir, 'new_training_data.csv');
writeCsv(samplePath, generateDataset());
writeCsv(newPath, generateDataset(SHIFTED));

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** The trapezoid area under a curve. */
const areaUnder = (c: { x: number[]; y: number[] }): number =>
  c.x.slice(1).reduce((sum, x, i) => sum + ((x - c.x[i]!) * ((c.y[i + 1] as number) + c.y[i]!)) / 2, 0);

for (const algorithm of ALGORITHM_NAMES) {
  test(`trainModel(${algorithm}) on a CSV: lineage, holdout metrics, parity, profile; the ONNX scores the holdout the same`, async (t) => {
    const progress: number[] = [];
    const result = await trainModel({ dataPath: samplePath, algorithm, onProgress: (done, total) => progress.push(done / total) });
    t.is(result.algorithm, algorithm);
    t.deepEqual(result.dataset, {
      sha256: sha256(readFileSync(samplePath)),
      rows: 1000,
      trainRows: 800,
      holdoutRows: 200,
      path: samplePath,
    });
    t.deepEqual(
      result.featureNames,
      Array.from({ length: 10 }, (_, i) => `feature_${i}`),
    );
    t.is(result.seed, 42);
    t.is(result.target, 'target');
    t.true(result.parity.passed, JSON.stringify(result.parity));
    t.is(result.parity.rows, 1000);
    t.true(result.metrics.accuracy > 0.93, `holdout accuracy ${result.metrics.accuracy}`);
    t.true(result.metrics.rocAuc > 0.98, `holdout ROC AUC ${result.metrics.rocAuc}`);
    t.is(
      result.confusionMatrix.flat().reduce((a, b) => a + b, 0),
      200,
    );
    t.is(result.profile.rows, 800);
    t.deepEqual(Object.keys(result.profile.features), result.featureNames);
    t.is(result.onnxSha256, sha256(result.onnx));
    t.is(progress.at(-1), 1);
    if (algorithm !== 'logistic') t.is(result.params['seed'], 42);

    // The same split, scored by the exported ONNX in onnxruntime.
    const { X, y } = toMatrix(readCsv(samplePath));
    const split = splitIndices(1000, { holdout: 0.2, seed: 42, stratify: y });
    const evaluation = await evaluateOnnx(result.onnx, takeRows(X, split.holdout), takeRows(y, split.holdout), result.featureNames);
    t.deepEqual(evaluation.confusionMatrix, result.confusionMatrix);
    // The curves of the ONNX's scores are those of the trainer's, within parity.
    t.is(evaluation.curves.roc.x.at(-1), 1);
    // (101 points of up to 200 thresholds: the trapezoids are within 0.01 of the exact AUC.)
    t.true(Math.abs(areaUnder(evaluation.curves.roc) - result.metrics.rocAuc) < 0.01);
    t.true(Math.abs(areaUnder(result.curves.roc) - result.metrics.rocAuc) < 0.01);
    t.deepEqual(evaluation.curves.featureImportance.map((f) => f.feature).sort(), [...result.featureNames].sort());
    t.is(evaluation.metrics.accuracy, result.metrics.accuracy);
    t.true(Math.abs(evaluation.metrics.logLoss - result.metrics.logLoss) < 1e-5);
    t.true(Math.abs(evaluation.metrics.rocAuc - result.metrics.rocAuc) < 1e-3);

    // The lineage report is JSON without the model bytes.
    const report = JSON.parse(JSON.stringify(trainingReport(result))) as Record<string, unknown>;
    t.false('onnx' in report);
    t.false('model' in report);
    t.is(report['onnxBytes'], result.onnx.length);
    t.like(report, { algorithm, dataset: { sha256: result.dataset.sha256 }, parity: { passed: true } });
  });
}

test('an in-memory dataset hashes like the file writeCsv writes, and trains the same model', async (t) => {
  const dataset = generateDataset();
  const fromTable = await trainModel({ dataset, algorithm: 'gbdt', params: { nEstimators: 20 } });
  const fromFile = await trainModel({ dataPath: samplePath, algorithm: 'gbdt', params: { nEstimators: 20 } });
  t.is(fromTable.dataset.sha256, sha256(Buffer.from(formatCsv(dataset))));
  t.is(fromTable.dataset.sha256, fromFile.dataset.sha256);
  t.is(fromTable.dataset.path, null);
  t.deepEqual(fromTable.onnx, fromFile.onnx);
  t.deepEqual(fromTable.metrics, fromFile.metrics);
  t.is(fromTable.params['nEstimators'], 20);
  t.is(fromTable.params['learningRate'], 0.1);
});

test('Flow 1: retrain on the shifted data, evaluate both versions on the sample data, compare with production', async (t) => {
  const production = await trainModel({ dataPath: samplePath, algorithm: 'logistic' });
  const candidate = await trainModel({ dataPath: newPath, algorithm: 'logistic' });
  t.is(candidate.dataset.rows, 500);
  t.not(candidate.dataset.sha256, production.dataset.sha256);
  const testData = readCsv(samplePath);
  const prodEval = await evaluateOnnxOnTable(production.onnx, testData);
  const candEval = await evaluateOnnxOnTable(candidate.onnx, testData);
  t.is(prodEval.rows, 1000);
  t.is(prodEval.positives, testData.rows.filter((r) => r[10] === '1').length);
  t.is(
    candEval.confusionMatrix.flat().reduce((a, b) => a + b, 0),
    1000,
  );
  t.true(prodEval.metrics.accuracy > 0.95);
  const cmp = compareModels(candEval.metrics, prodEval.metrics, 0);
  t.is(cmp.metric, 'accuracy');
  t.is(cmp.improvement, candEval.metrics.accuracy - prodEval.metrics.accuracy);
  t.is(cmp.beats, cmp.improvement! > 0);
  // Nothing in production yet: any candidate is promoted.
  t.true(compareModels(candEval.metrics, null).beats);
});

test('evaluateOnnxOnTable takes the columns the model names, in its order, whatever the file order', async (t) => {
  const result = await trainModel({ dataPath: samplePath, algorithm: 'mlp', params: { epochs: 20 } });
  const csv = readCsv(samplePath);
  const order = [10, 9, 3, 0, 8, 1, 7, 2, 6, 4, 5];
  const shuffled = { columns: order.map((c) => csv.columns[c]!), rows: csv.rows.map((r) => order.map((c) => r[c]!)) };
  const path = join(dir, 'shuffled.csv');
  writeFileSync(path, formatCsv(shuffled));
  const a = await evaluateOnnxOnTable(result.onnx, csv);
  const b = await evaluateOnnxOnTable(result.onnx, readCsv(path));
  t.deepEqual(b.metrics, a.metrics);
  t.deepEqual(b.featureNames, result.featureNames);
  await t.throwsAsync(evaluateOnnxOnTable(result.onnx, { columns: ['feature_0', 'target'], rows: [['1', '0']] }), {
    message: /column 'feature_1' not found/,
  });
});

test('evaluateOnnx reads models from elsewhere: another input name, a single sigmoid column named prob', async (t) => {
  const bytes = buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3] }],
    outputs: [{ name: 'prob', dtype: 'float32', dims: ['N', 1] }],
    initializers: [{ name: 'W', dtype: 'float32', dims: [3, 1], values: [2, -1, 0] }],
    nodes: [
      { opType: 'MatMul', inputs: ['x', 'W'], outputs: ['z'] },
      { opType: 'Sigmoid', inputs: ['z'], outputs: ['prob'] },
    ],
  });
  const X = [
    [1, 0, 5],
    [0, 1, 5],
    [2, 1, 0],
    [-1, -1, 0],
  ];
  const evaluation = await evaluateOnnx(bytes, X, [1, 0, 1, 1], ['a', 'b', 'c']);
  t.deepEqual(evaluation.confusionMatrix, [
    [1, 0],
    [1, 2],
  ]);
  t.is(evaluation.metrics.accuracy, 0.75);
  const expected =
    -(
      Math.log(1 / (1 + Math.exp(-2))) +
      Math.log(1 - 1 / (1 + Math.exp(1))) +
      Math.log(1 / (1 + Math.exp(-3))) +
      Math.log(1 / (1 + Math.exp(1)))
    ) / 4;
  t.true(Math.abs(evaluation.metrics.logLoss - expected) < 1e-6);
});

test('compareModels: margin, direction of log loss, deltas', (t) => {
  const base: ClassificationMetrics = { accuracy: 0.9, precision: 0.9, recall: 0.9, f1: 0.9, rocAuc: 0.95, logLoss: 0.3 };
  const better = { ...base, accuracy: 0.93, logLoss: 0.25 };
  t.like(compareModels(better, base, 0.02), { beats: true, metric: 'accuracy', margin: 0.02 });
  t.false(compareModels(better, base, 0.05).beats);
  t.false(compareModels(base, base, 0).beats);
  const byLoss = compareModels(better, base, 0.04, 'logLoss');
  t.true(byLoss.beats);
  t.true(Math.abs(byLoss.improvement! - 0.05) < 1e-12);
  t.true(Math.abs(byLoss.deltas!.logLoss + 0.05) < 1e-12);
  t.false(compareModels({ ...base, logLoss: 0.4 }, base, 0, 'logLoss').beats);
  t.throws(() => compareModels(base, base, 0, 'speed' as never), { message: /unknown metric 'speed'/ });
});

test('trainModel refuses what it cannot train', async (t) => {
  await t.throwsAsync(trainModel({ dataPath: samplePath, algorithm: 'svm' as never }), { message: /unknown algorithm 'svm'/ });
  await t.throwsAsync(trainModel({}), { message: /exactly one of dataPath and dataset/ });
  await t.throwsAsync(trainModel({ dataPath: samplePath, holdout: 0 }), { message: /holdout/ });
  await t.throwsAsync(trainModel({ dataPath: samplePath, params: { C: 1, epochs: 3 } }), {
    message: /logistic: unknown parameter 'epochs'/,
  });
  const bad = generateDataset({ rows: 50 });
  const path = join(dir, 'three-classes.csv');
  writeCsv(path, { columns: bad.columns, rows: bad.rows.map((r, i) => (i === 7 ? [...r.slice(0, 10), 2] : r)) });
  await t.throwsAsync(trainModel({ dataPath: path }), { message: "target 'target' must be 0 or 1; row 8 has 2" });
  writeFileSync(join(dir, 'text.csv'), 'feature_0,target\n1,0\nabc,1\n');
  await t.throwsAsync(trainModel({ dataPath: join(dir, 'text.csv') }), {
    message: /column 'feature_0', row 2 \(line 3\): "abc" is not a number/,
  });
});
