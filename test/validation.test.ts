import { BinaryWriter } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { PredictResponse } from '../src/gen/quiver/v1/prediction.js';
import { DataType, type Tensor } from '../src/gen/quiver/v1/tensor.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, tmp, typedModel, writeModel } from './helpers/fixtures.js';
import { grpcError, type Running, startServer } from './helpers/server.js';

const dir = tmp();
let running: Running;
let lenient: Running;

test.before(async () => {
  const models = [`production-model=${writeModel(dir, 'demo.onnx', demoModel())}`, `typed=${writeModel(dir, 'typed.onnx', typedModel())}`];
  running = await startServer({ models, maxRequestRows: 100 });
  lenient = await startServer({ models, rejectNonFinite: false });
});

test.after.always(async () => {
  await running?.close();
  await lenient?.close();
});

const row = (overrides: Record<string, number> = {}, drop: string[] = []): Map<string, number> => {
  const m = blueprintFeatures(BLUEPRINT_ROW);
  for (const d of drop) m.delete(d);
  for (const [k, v] of Object.entries(overrides)) m.set(k, v);
  return m;
};

async function invalid(t: import('ava').ExecutionContext, p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await grpcError(p);
  t.is(err.code, grpc.status.INVALID_ARGUMENT, err.details);
  t.regex(err.details, pattern);
}

test('missing feature: INVALID_ARGUMENT naming it and listing what the model takes', async (t) => {
  await invalid(
    t,
    running.client.predict({ features: row({}, ['feature_3']) }),
    /^features: missing feature feature_3 \(the model takes 10 features: feature_0, feature_1,/,
  );
});

test('unknown feature: INVALID_ARGUMENT naming it', async (t) => {
  await invalid(
    t,
    running.client.predict({ features: row({ feature_10: 1 }) }),
    /^features: unknown feature 'feature_10'; expected feature_0, feature_1/,
  );
});

test('no features at all: INVALID_ARGUMENT saying they are required', async (t) => {
  await invalid(t, running.client.predict({}), /^features: required \(feature_0, feature_1/);
});

/** A PredictRequest with feature_0 twice, written by hand (generated encoders cannot). */
function duplicateFeatureRequest(): Buffer {
  const w = new BinaryWriter();
  w.uint32(10).string('production-model');
  const entries: Array<[string, number]> = [...blueprintFeatures(BLUEPRINT_ROW), ['feature_0', 9]];
  for (const [k, v] of entries) w.uint32(26).fork().uint32(10).string(k).uint32(17).double(v).join();
  return Buffer.from(w.finish());
}

function rawCall(address: string, method: string, body: Buffer): Promise<Buffer> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<Buffer>((resolve, reject) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      (err, res) => {
        client.close();
        if (err) reject(err);
        else resolve(res as Buffer);
      },
    );
  });
}

test('duplicate feature on the wire: INVALID_ARGUMENT naming it', async (t) => {
  await invalid(
    t,
    rawCall(running.address, '/quiver.v1.PredictionService/Predict', duplicateFeatureRequest()),
    /^features: feature 'feature_0' is given more than once/,
  );
});

test('bytes that are not a PredictRequest: INVALID_ARGUMENT, server stays up', async (t) => {
  await invalid(
    t,
    rawCall(running.address, '/quiver.v1.PredictionService/Predict', Buffer.from([0x1a, 0xff, 0xff, 0xff, 0x0f, 0x01])),
    /could not be decoded/,
  );
  const ok = await running.client.predict({ features: row() });
  t.is(ok.prediction, 1);
});

test('non-finite values are rejected by default and accepted when configured', async (t) => {
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    await invalid(
      t,
      running.client.predict({ features: row({ feature_4: bad }) }),
      /^features\.feature_4: (NaN|-?Infinity) is not allowed; expected a finite number/,
    );
  }
  const res = await lenient.client.predict({ features: row({ feature_4: Number.POSITIVE_INFINITY }) });
  t.is(res.modelVersion, '1');
  const nan = await lenient.client.predict({ features: row({ feature_0: Number.NaN }) });
  t.true(Number.isNaN(nan.probabilities[0]));
});

function tensor(datatype: DataType, shape: number[], data: Partial<Tensor>): Tensor {
  return { datatype, shape, fp32Data: [], fp64Data: [], int32Data: [], int64Data: [], boolData: [], rawData: Buffer.alloc(0), ...data };
}

const goodTyped = (): Map<string, Tensor> =>
  new Map<string, Tensor>([
    ['ids', tensor(DataType.DATA_TYPE_INT64, [1, 3], { int64Data: [1, 2, 3] })],
    ['mask', tensor(DataType.DATA_TYPE_BOOL, [1, 3], { boolData: [true, true, true] })],
    ['scale', tensor(DataType.DATA_TYPE_FP32, [1, 1], { fp32Data: [1] })],
  ]);

test('wrong dtype: INVALID_ARGUMENT naming the input, the given and the expected type', async (t) => {
  const inputs = goodTyped();
  inputs.set('scale', tensor(DataType.DATA_TYPE_FP64, [1, 1], { fp64Data: [1] }));
  await invalid(t, running.client.predict({ modelName: 'typed', inputs }), /^inputs\.scale: datatype FP64 does not match the model's FP32/);
  const unset = goodTyped();
  unset.set('ids', tensor(DataType.DATA_TYPE_UNSPECIFIED, [1, 3], {}));
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', inputs: unset }),
    /^inputs\.ids\.datatype: required, one of FP32, FP64, INT32, INT64, BOOL/,
  );
  const mixed = goodTyped();
  mixed.set('ids', tensor(DataType.DATA_TYPE_INT64, [1, 3], { int64Data: [1, 2, 3], fp32Data: [1] }));
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', inputs: mixed }),
    /^inputs\.ids\.fp32_data: given for a INT64 tensor; use int64_data or raw_data/,
  );
});

test('wrong shape or length: INVALID_ARGUMENT with the shape given and expected', async (t) => {
  const shape = goodTyped();
  shape.set('ids', tensor(DataType.DATA_TYPE_INT64, [1, 4], { int64Data: [1, 2, 3, 4] }));
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', inputs: shape }),
    /^inputs\.ids: shape \[1, 4\] does not match the model's \[-1, 3\]/,
  );
  const length = goodTyped();
  length.set('ids', tensor(DataType.DATA_TYPE_INT64, [1, 3], { int64Data: [1, 2] }));
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', inputs: length }),
    /^inputs\.ids\.int64_data: 2 elements, but shape \[1, 3\] needs 3/,
  );
  const raw = goodTyped();
  raw.set('scale', tensor(DataType.DATA_TYPE_FP32, [1, 1], { rawData: Buffer.alloc(3) }));
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', inputs: raw }),
    /^inputs\.scale\.raw_data: 3 bytes, but shape \[1, 1\] of FP32 needs 4/,
  );
  const rows = goodTyped();
  rows.set('scale', tensor(DataType.DATA_TYPE_FP32, [2, 1], { fp32Data: [1, 2] }));
  await invalid(t, running.client.predict({ modelName: 'typed', inputs: rows }), /^inputs\.scale: 2 rows, but other inputs have 1/);
  const negative = goodTyped();
  negative.set('scale', tensor(DataType.DATA_TYPE_FP32, [-1, 1], { fp32Data: [1] }));
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', inputs: negative }),
    /^inputs\.scale\.shape\[0\]: -1 is not a valid dimension/,
  );
  const huge = goodTyped();
  huge.set('ids', tensor(DataType.DATA_TYPE_INT64, [2 ** 20, 2 ** 20, 3], {}));
  await invalid(t, running.client.predict({ modelName: 'typed', inputs: huge }), /^inputs\.ids\.shape: more than 2147483647 elements/);
  const zero = goodTyped();
  for (const [k, v] of zero) zero.set(k, { ...v, shape: [0, ...v.shape.slice(1)], int64Data: [], boolData: [], fp32Data: [] });
  await invalid(t, running.client.predict({ modelName: 'typed', inputs: zero }), /^inputs: the inputs have zero rows/);
});

test('missing or unknown input tensor, and features sent to a tensor model', async (t) => {
  const missing = goodTyped();
  missing.delete('mask');
  await invalid(t, running.client.predict({ modelName: 'typed', inputs: missing }), /^inputs: missing input 'mask' \(BOOL \[-1, 3\]\)/);
  const extra = goodTyped();
  extra.set('other', tensor(DataType.DATA_TYPE_FP32, [1], { fp32Data: [1] }));
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', inputs: extra }),
    /^inputs: unknown input 'other'; the model's inputs are ids, mask, scale/,
  );
  await invalid(
    t,
    running.client.predict({ modelName: 'typed', features: row() }),
    /^features: this model does not take a feature map; send 'inputs' with tensors ids INT64 \[-1, 3\]/,
  );
  await invalid(t, running.client.predict({ features: row(), inputs: goodTyped() }), /either features or inputs, not both/);
});

test('empty batch and batch over the limit: INVALID_ARGUMENT', async (t) => {
  await invalid(t, running.client.batchPredict({ requests: [] }), /^requests: empty batch/);
  const many = Array.from({ length: 101 }, () => ({ features: row(), inputs: new Map(), id: '' }));
  await invalid(t, running.client.batchPredict({ requests: many }), /^requests: more than 100 instances in one request$/);
  const dense = tensor(DataType.DATA_TYPE_FP32, [101, 10], { rawData: Buffer.alloc(101 * 10 * 4) });
  await invalid(t, running.client.batchPredict({ dense }), /^dense: 101 rows is over the limit of 100 per request/);
  const emptyDense = tensor(DataType.DATA_TYPE_FP32, [0, 10], {});
  await invalid(t, running.client.batchPredict({ dense: emptyDense }), /^dense: empty batch/);
  const fp64 = tensor(DataType.DATA_TYPE_FP64, [1, 10], { fp64Data: BLUEPRINT_ROW });
  await invalid(t, running.client.batchPredict({ dense: fp64 }), /^dense\.datatype: FP64 is not accepted; the dense form is FP32/);
});

test('unknown model: NOT_FOUND listing the models served', async (t) => {
  const err = await grpcError(running.client.predict({ modelName: 'nope', features: row() }));
  t.is(err.code, grpc.status.NOT_FOUND);
  t.is(err.details, "model 'nope' is not served; available: production-model, typed");
  const empty = await grpcError(running.client.predict({ modelName: '', features: row() }));
  t.is(empty.code, grpc.status.INVALID_ARGUMENT);
  t.is(empty.details, 'model_name: required');
});

test('unknown version or alias: NOT_FOUND listing the versions', async (t) => {
  for (const v of ['7', 'champion']) {
    const err = await grpcError(running.client.predict({ modelVersion: v, features: row() }));
    t.is(err.code, grpc.status.NOT_FOUND);
    t.is(err.details, `model 'production-model' has no version '${v}'; available versions: 1`);
  }
  const meta = await grpcError(running.client.metadata('production-model', '3'));
  t.is(meta.code, grpc.status.NOT_FOUND);
});

test('after all the bad requests the server still answers', async (t) => {
  const res = await running.client.predict({ features: row() });
  t.is(res.prediction, 1);
  t.is(PredictResponse.fromPartial(res).modelName, 'production-model');
});
