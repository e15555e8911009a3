import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import ort from 'onnxruntime-node';

import { DataType, type Tensor } from '../src/gen/quiver/v1/tensor.js';
import { ModelTask, type PredictStreamRequest, type PredictStreamResponse } from '../src/gen/quiver/v1/prediction.js';
import {
  BLUEPRINT_ROW,
  BLUEPRINT_ROW_2,
  blueprintFeatures,
  demoModel,
  regressorModel,
  tmp,
  typedModel,
  writeModel,
} from './helpers/fixtures.js';
import { grpcError, type Running, startServer } from './helpers/server.js';

const dir = tmp();
const demoPath = writeModel(dir, 'demo.onnx', demoModel());
let running: Running;
let session: ort.InferenceSession;

test.before(async () => {
  // A generous inlineMaxUs: whether the inline lane is used must not depend on how busy the
  // test machine is when the model's run time is measured.
  running = await startServer({
    inlineMaxUs: 10_000,
    models: [
      `production-model=${demoPath}`,
      `regressor=${writeModel(dir, 'reg.onnx', regressorModel())}`,
      `typed=${writeModel(dir, 'typed.onnx', typedModel())}`,
    ],
  });
  session = await ort.InferenceSession.create(demoPath);
});

test.after.always(async () => {
  await running?.close();
  await session?.release();
});

async function direct(rows: number[][]): Promise<{ label: bigint[]; probabilities: number[][] }> {
  const x = new Float32Array(rows.flat());
  const out = await session.run({ features: new ort.Tensor('float32', x, [rows.length, 10]) });
  const p = Array.from(out.probabilities!.data as Float32Array);
  return {
    label: Array.from(out.label!.data as BigInt64Array),
    probabilities: rows.map((_, i) => [p[2 * i]!, p[2 * i + 1]!]),
  };
}

const f32 = (v: number): number => Math.fround(v);

test('Predict answers exactly what onnxruntime computes for the same model and input', async (t) => {
  for (const row of [BLUEPRINT_ROW, BLUEPRINT_ROW_2, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0.3, -0.1, 0.2, 5, 5, 5, 5, 5, 5, 5]]) {
    const res = await running.client.predict({ features: blueprintFeatures(row), id: 'req-1' });
    const expected = await direct([row]);
    t.is(res.modelName, 'production-model');
    t.is(res.modelVersion, '1');
    t.is(res.id, 'req-1');
    t.deepEqual(res.probabilities, expected.probabilities[0]);
    t.is(res.prediction, Number(expected.label[0]));
    t.is(res.probability, Math.max(...expected.probabilities[0]!));
    const probs = res.outputs.get('probabilities') as Tensor;
    t.is(probs.datatype, DataType.DATA_TYPE_FP32);
    t.deepEqual(probs.shape, [1, 2]);
    t.deepEqual(probs.fp32Data, expected.probabilities[0]!.map(f32));
    const label = res.outputs.get('label') as Tensor;
    t.is(label.datatype, DataType.DATA_TYPE_INT64);
    t.deepEqual(label.int64Data, [Number(expected.label[0])]);
  }
});

test('the blueprint sample rows are classified as its target rule says', async (t) => {
  const a = await running.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  const b = await running.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW_2) });
  t.is(a.prediction, 1); // 1.5 + 2.3 - 0.4 > 0
  t.is(b.prediction, 0);
  t.true(a.probability > 0.9);
});

test('Predict under concurrency (batched) matches one-by-one results', async (t) => {
  const rows = Array.from({ length: 200 }, (_, i) => Array.from({ length: 10 }, (_, j) => Math.sin(i * 10 + j) * 2));
  const results = await Promise.all(rows.map((row, i) => running.client.predict({ features: blueprintFeatures(row), id: String(i) })));
  const expected = await direct(rows);
  results.forEach((r, i) => {
    t.is(r.id, String(i));
    t.deepEqual(r.probabilities, expected.probabilities[i]);
  });
});

test('BatchPredict, requests form: results in order, one bad item fails alone', async (t) => {
  const res = await running.client.batchPredict({
    requests: [
      { features: blueprintFeatures(BLUEPRINT_ROW), inputs: new Map(), id: 'a' },
      { features: new Map([['feature_0', 1]]), inputs: new Map(), id: 'bad' },
      { features: blueprintFeatures(BLUEPRINT_ROW_2), inputs: new Map(), id: 'b' },
    ],
  });
  const expected = await direct([BLUEPRINT_ROW, BLUEPRINT_ROW_2]);
  t.is(res.modelVersion, '1');
  t.is(res.responses.length, 3);
  t.is(res.responses[0]!.status!.code, 0);
  t.deepEqual(res.responses[0]!.result!.probabilities, expected.probabilities[0]);
  t.is(res.responses[0]!.result!.id, 'a');
  t.is(res.responses[1]!.status!.code, grpc.status.INVALID_ARGUMENT);
  t.regex(res.responses[1]!.status!.message, /requests\[1\]\.features: missing features feature_1/);
  t.is(res.responses[1]!.result, undefined);
  t.is(res.responses[2]!.status!.code, 0);
  t.deepEqual(res.responses[2]!.result!.probabilities, expected.probabilities[1]);
});

function denseTensor(rows: number[][], raw: boolean): Tensor {
  const data = new Float32Array(rows.flat());
  return {
    datatype: DataType.DATA_TYPE_FP32,
    shape: [rows.length, rows[0]!.length],
    fp32Data: raw ? [] : Array.from(data),
    fp64Data: [],
    int32Data: [],
    int64Data: [],
    boolData: [],
    rawData: raw ? Buffer.from(data.buffer) : Buffer.alloc(0),
  };
}

test('BatchPredict, dense form: fp32_data in gives typed outputs, raw_data in gives raw outputs', async (t) => {
  const rows = Array.from({ length: 256 }, (_, i) => Array.from({ length: 10 }, (_, j) => Math.cos(i + j * 3)));
  const expected = await direct(rows);
  for (const raw of [false, true]) {
    const res = await running.client.batchPredict({ dense: denseTensor(rows, raw) });
    t.is(res.responses.length, 0);
    const probs = res.denseOutputs.get('probabilities') as Tensor;
    const label = res.denseOutputs.get('label') as Tensor;
    t.deepEqual(probs.shape, [256, 2]);
    t.deepEqual(label.shape, [256]);
    const p = raw ? Array.from(new Float32Array(new Uint8Array(probs.rawData).buffer)) : probs.fp32Data;
    const l = raw ? Array.from(new BigInt64Array(new Uint8Array(label.rawData).buffer), Number) : label.int64Data;
    t.deepEqual(p, expected.probabilities.flat().map(f32));
    t.deepEqual(l, expected.label.map(Number));
    t.is(raw ? probs.fp32Data.length : probs.rawData.length, 0);
  }
});

test('a dense batch that fills a batch alone and runs cheaply takes the inline lane even under concurrency; a large one goes to a worker', async (t) => {
  // Batches of 32 rows: a run of a few µs, well within the lane's 50 µs even on a busy machine.
  const own = await startServer({ models: [`production-model=${demoPath}`], inlineMaxUs: 10_000, maxBatchRows: 32 });
  try {
    const batcher = own.server.core.models.resolve('production-model', '').batcher;
    // What the version would have learnt from its batches: 32 rows in 5 µs, within the 50 µs a
    // worker round trip costs the main thread.
    for (let i = 0; i < 50; i++) batcher.cost.observe(32, 5);
    const rows = Array.from({ length: 32 }, (_, i) => Array.from({ length: 10 }, (_, j) => Math.sin(i * 7 + j)));
    const expected = await direct(rows);
    const inlineBefore = batcher.stats.inlineRuns;
    // 20 at once: no calm traffic, and 32 rows is over the calm lane's 8, so only a full batch goes inline.
    const answers = await Promise.all(Array.from({ length: 20 }, () => own.client.batchPredict({ dense: denseTensor(rows, true) })));
    for (const res of answers) {
      const probs = res.denseOutputs.get('probabilities') as Tensor;
      t.deepEqual(Array.from(new Float32Array(new Uint8Array(probs.rawData).buffer)), expected.probabilities.flat().map(f32));
    }
    t.true(batcher.stats.inlineRuns - inlineBefore >= 10, `${batcher.stats.inlineRuns - inlineBefore} of 20 inline`);
    // 4,096 rows are estimated at 128 times a 32-row run: a worker's.
    const big = Array.from({ length: 128 }, () => rows).flat();
    const workerBatches = batcher.stats.batches;
    const inlineRuns = batcher.stats.inlineRuns;
    const res = await own.client.batchPredict({ dense: denseTensor(big, true) });
    t.is(batcher.stats.batches, workerBatches + 1);
    t.is(batcher.stats.inlineRuns, inlineRuns);
    const probs = res.denseOutputs.get('probabilities') as Tensor;
    t.deepEqual(Array.from(new Float32Array(new Uint8Array(probs.rawData).buffer)).slice(0, 64), expected.probabilities.flat().map(f32));
  } finally {
    await own.close();
  }
});

test('BatchPredict: both forms at once, empty and ragged dense batches are INVALID_ARGUMENT', async (t) => {
  const both = await grpcError(
    running.client.batchPredict({
      dense: denseTensor([BLUEPRINT_ROW], true),
      requests: [{ features: blueprintFeatures(BLUEPRINT_ROW), inputs: new Map(), id: '' }],
    }),
  );
  t.is(both.code, grpc.status.INVALID_ARGUMENT);
  t.regex(both.details, /either requests or dense/);
  const empty = await grpcError(running.client.batchPredict({ requests: [] }));
  t.is(empty.code, grpc.status.INVALID_ARGUMENT);
  t.regex(empty.details, /requests: empty batch/);
  const ragged = denseTensor([BLUEPRINT_ROW, BLUEPRINT_ROW], false);
  ragged.fp32Data.pop();
  const r = await grpcError(running.client.batchPredict({ dense: ragged }));
  t.is(r.code, grpc.status.INVALID_ARGUMENT);
  t.regex(r.details, /dense\.fp32_data: 19 elements, but shape \[2, 10\] needs 20/);
  const wide = await grpcError(running.client.batchPredict({ dense: denseTensor([[1, 2, 3]], false) }));
  t.regex(wide.details, /dense\.shape: \[1, 3\] does not match \[N, 10\]/);
});

test('PredictStream answers every request in order and reports bad items without ending the stream', async (t) => {
  const call = running.client.raw.predictStream();
  const responses: PredictStreamResponse[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on('data', (r: PredictStreamResponse) => responses.push(r));
    call.on('end', resolve);
    call.on('error', reject);
  });
  const n = 300;
  for (let i = 0; i < n; i++) {
    const row = i === 7 ? [1] : Array.from({ length: 10 }, (_, j) => Math.sin(i * j));
    const req: PredictStreamRequest = {
      request: { modelName: 'production-model', modelVersion: '', features: blueprintFeatures(row), inputs: new Map(), id: `s${i}` },
    };
    call.write(req);
  }
  call.end();
  await done;
  t.is(responses.length, n);
  responses.forEach((r, i) => t.is(r.id, `s${i}`));
  t.is(responses[7]!.status!.code, grpc.status.INVALID_ARGUMENT);
  t.regex(responses[7]!.status!.message, /missing features/);
  const ok = responses.filter((r) => r.status!.code === 0);
  t.is(ok.length, n - 1);
  const expected = await direct([Array.from({ length: 10 }, (_, j) => Math.sin(3 * j))]);
  t.deepEqual(responses[3]!.response!.probabilities, expected.probabilities[0]);
});

test('GetModelMetadata describes the signature, features and task', async (t) => {
  const m = await running.client.metadata('production-model');
  t.is(m.modelName, 'production-model');
  t.is(m.modelVersion, '1');
  t.deepEqual(m.versions, ['1']);
  t.is(m.platform, 'onnxruntime');
  t.deepEqual(
    m.featureNames,
    Array.from({ length: 10 }, (_, i) => `feature_${i}`),
  );
  t.deepEqual(m.inputs, [{ name: 'features', datatype: DataType.DATA_TYPE_FP32, shape: [-1, 10] }]);
  t.deepEqual(
    m.outputs.map((o) => [o.name, o.datatype, o.shape]),
    [
      ['label', DataType.DATA_TYPE_INT64, [-1]],
      ['probabilities', DataType.DATA_TYPE_FP32, [-1, 2]],
    ],
  );
  t.is(m.task, ModelTask.MODEL_TASK_CLASSIFICATION);
  t.deepEqual(m.classLabels, ['0', '1']);
  t.is(m.maxBatchRows, 256);
  t.regex(m.sha256, /^[0-9a-f]{64}$/);
  const reg = await running.client.metadata('regressor');
  t.is(reg.task, ModelTask.MODEL_TASK_REGRESSION);
  t.deepEqual(reg.featureNames, ['a', 'b']);
  const typed = await running.client.metadata('typed');
  t.deepEqual(typed.featureNames, []);
  t.deepEqual(
    typed.inputs.map((i) => i.name),
    ['ids', 'mask', 'scale'],
  );
});

test('ListModels lists every served model with its versions', async (t) => {
  const res = await running.client.listModels();
  t.deepEqual(
    res.models.map((m) => [m.name, m.versions, m.defaultVersion, m.ready]),
    [
      ['production-model', ['1'], '1', true],
      ['regressor', ['1'], '1', true],
      ['typed', ['1'], '1', true],
    ],
  );
});

test('a regressor with FP64 features and metadata feature names predicts its value', async (t) => {
  const res = await running.client.predict({
    modelName: 'regressor',
    features: new Map([
      ['a', 3],
      ['b', 1.25],
    ]),
  });
  t.is(res.prediction, 2 * 3 - 1.25 + 0.5);
  t.deepEqual(res.probabilities, []);
  t.deepEqual(res.outputs.get('y')!.fp64Data, [5.25]);
});

function tensor(datatype: DataType, shape: number[], data: Partial<Tensor>): Tensor {
  return { datatype, shape, fp32Data: [], fp64Data: [], int32Data: [], int64Data: [], boolData: [], rawData: Buffer.alloc(0), ...data };
}

test('the typed tensor form takes INT64, BOOL and FP32 inputs, typed or raw, several rows', async (t) => {
  const inputs = new Map<string, Tensor>([
    ['ids', tensor(DataType.DATA_TYPE_INT64, [2, 3], { int64Data: [1, 2, 3, 10, 20, 30] })],
    ['mask', tensor(DataType.DATA_TYPE_BOOL, [2, 3], { boolData: [true, false, true, false, true, true] })],
    ['scale', tensor(DataType.DATA_TYPE_FP32, [2, 1], { rawData: Buffer.from(new Float32Array([0.5, 2]).buffer) })],
  ]);
  const res = await running.client.predict({ modelName: 'typed', inputs });
  t.deepEqual(res.outputs.get('total')!.int64Data, [4, 50]);
  t.deepEqual(res.outputs.get('total')!.shape, [2]);
  t.deepEqual(res.outputs.get('scaled')!.fp32Data, [2, 100]);
  t.deepEqual(res.outputs.get('count')!.int32Data, [2, 2]);
  t.is(res.outputs.get('count')!.datatype, DataType.DATA_TYPE_INT32);
  // Concurrent typed requests are batched together and split back correctly.
  const many = await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      running.client.predict({
        modelName: 'typed',
        inputs: new Map<string, Tensor>([
          ['ids', tensor(DataType.DATA_TYPE_INT64, [1, 3], { int64Data: [i, i, i] })],
          ['mask', tensor(DataType.DATA_TYPE_BOOL, [1, 3], { boolData: [true, true, i % 2 === 0] })],
          ['scale', tensor(DataType.DATA_TYPE_FP32, [1, 1], { fp32Data: [1] })],
        ]),
      }),
    ),
  );
  many.forEach((r, i) => t.deepEqual(r.outputs.get('total')!.int64Data, [i % 2 === 0 ? 3 * i : 2 * i]));
});

test('a Triton-style model repository serves every version; empty version = highest, digits pick one', async (t) => {
  const repo = tmp();
  for (const v of [1, 2]) {
    mkdirSync(join(repo, 'blueprint', String(v)), { recursive: true });
    writeModel(join(repo, 'blueprint', String(v)), 'model.onnx', v === 1 ? demoModel() : regressorModelAs10());
  }
  mkdirSync(join(repo, 'Bad Name', '1'), { recursive: true });
  writeModel(join(repo, 'Bad Name', '1'), 'model.onnx', demoModel());
  const srv = await startServer({ modelRepository: repo });
  try {
    const list = await srv.client.listModels();
    t.deepEqual(
      list.models.map((m) => [m.name, m.versions]),
      [['blueprint', ['1', '2']]],
    );
    const latest = await srv.client.predict({ modelName: 'blueprint', features: blueprintFeatures(BLUEPRINT_ROW) });
    t.is(latest.modelVersion, '2');
    t.is(latest.prediction, Math.fround(BLUEPRINT_ROW.reduce((a, b) => a + Math.fround(b), 0)));
    const v1 = await srv.client.predict({ modelName: 'blueprint', modelVersion: '1', features: blueprintFeatures(BLUEPRINT_ROW) });
    t.is(v1.modelVersion, '1');
    t.is(v1.prediction, 1);
    const meta = await srv.client.metadata('blueprint', '1');
    t.deepEqual(meta.versions, ['1', '2']);
  } finally {
    await srv.close();
  }
});

/** A regressor over the blueprint's 10 features: y = sum of features (FP64 output). */
function regressorModelAs10(): Uint8Array {
  return regressorLike();
}

import { buildOnnxModel } from '../src/onnx/builder.js';

function regressorLike(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'features', dtype: 'float32', dims: ['N', 10] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 1] }],
    initializers: [{ name: 'axes', dtype: 'int64', dims: [1], values: [1] }],
    nodes: [{ opType: 'ReduceSum', inputs: ['features', 'axes'], outputs: ['y'], attributes: { keepdims: { i: 1 } } }],
  });
}

test('the inline lane and the worker path give identical answers', async (t) => {
  const workersOnly = await startServer({ models: [`production-model=${demoPath}`], inlineMaxUs: 0 });
  try {
    for (const row of [BLUEPRINT_ROW, BLUEPRINT_ROW_2]) {
      const a = await running.client.predict({ features: blueprintFeatures(row), id: 'same' });
      const b = await workersOnly.client.predict({ features: blueprintFeatures(row), id: 'same' });
      t.deepEqual(a, b);
    }
    t.is(workersOnly.server.core.models.resolve('production-model', '').batcher.inlineRunner, null);
    t.not(running.server.core.models.resolve('production-model', '').batcher.inlineRunner, null);
  } finally {
    await workersOnly.close();
  }
});
