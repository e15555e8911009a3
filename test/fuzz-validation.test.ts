/**
 * Property-based request validation (issue 7, "bad input, everywhere"): fast-check builds
 * Predict, BatchPredict and OIP ModelInfer requests, sends them with a real grpc-js client to a
 * real server (the demo model, a feature-map classifier, and the typed model: INT64, BOOL and
 * FP32 tensors), and checks every answer:
 * - a request valid by construction succeeds, with exactly the values the model computes;
 * - any other request succeeds with a well-formed answer, or fails INVALID_ARGUMENT or
 *   NOT_FOUND with a message that names the field (or the model/version) at fault; never
 *   INTERNAL, UNKNOWN or anything else;
 * - the server still says SERVING and answers a normal Predict afterwards, and its memory
 *   (the server runs in this process) grew by a bounded amount.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';

import {
  GRPCInferenceServiceClient,
  type InferTensorContents,
  type ModelInferRequest,
  type ModelInferRequest_InferInputTensor,
  type ModelInferResponse,
} from '../src/gen/inference/grpc_predict_v2.js';
import type { BatchPredictResponse, Instance, PredictRequest, PredictResponse } from '../src/gen/quiver/v1/prediction.js';
import { DataType, type Tensor } from '../src/gen/quiver/v1/tensor.js';
import { fromBytes } from '../src/core/tensor.js';
import { check, healthClient } from '../src/grpc/health-client.js';
import { configureFuzz } from './helpers/fuzz.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, tmp, typedModel, writeModel } from './helpers/fixtures.js';
import { grpcError, type Running, startServer } from './helpers/server.js';

configureFuzz();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MAX_ROWS = 16;
const NUM_RUNS = 150;

const dir = tmp();
let srv: Running;
let oip: GRPCInferenceServiceClient;
let baseline: NodeJS.MemoryUsage;

test.before(async () => {
  srv = await startServer({
    models: [`production-model=${writeModel(dir, 'demo.onnx', demoModel())}`, `typed=${writeModel(dir, 'typed.onnx', typedModel())}`],
    maxRequestRows: MAX_ROWS,
  });
  oip = new GRPCInferenceServiceClient(srv.address, grpc.credentials.createInsecure());
  // Warm every path once (workers, sessions, codecs) before the memory baseline.
  await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  gc();
  baseline = process.memoryUsage();
});

test.after.always(async () => {
  oip?.close();
  await srv?.close();
});

// ---- Calls ----

type Outcome<T> = { ok: true; res: T } | { ok: false; err: grpc.ServiceError };

async function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, res: await p };
  } catch (err) {
    return { ok: false, err: err as grpc.ServiceError };
  }
}

const deadline = () => ({ deadline: Date.now() + 10_000 });

/** A request as text for failure reports (maps and buffers spelled out). */
const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? Object.fromEntries(x) : x)).slice(0, 2000);

function infer(req: ModelInferRequest): Promise<ModelInferResponse> {
  return new Promise((resolve, reject) =>
    oip.modelInfer(req, new grpc.Metadata(), deadline(), (err, res) => (err ? reject(err) : resolve(res as ModelInferResponse))),
  );
}

// ---- What an error must look like ----

/** Where an INVALID_ARGUMENT message may start: the field at fault, as the request names it. */
const FIELD =
  /^(model_name|features|inputs|requests|dense|request|raw_input_contents|outputs|id|give either|the request message could not be decoded)\b/;
const MISSING = /^model '[^']*' (is not served|has no version '[^']*')/;

function checkError(err: grpc.ServiceError, what: string): void {
  if (err.code === grpc.status.INVALID_ARGUMENT) {
    if (!FIELD.test(err.details)) throw new Error(`${what}: INVALID_ARGUMENT names no field: ${JSON.stringify(err.details)}`);
    return;
  }
  if (err.code === grpc.status.NOT_FOUND) {
    if (!MISSING.test(err.details)) throw new Error(`${what}: NOT_FOUND names no model or version: ${JSON.stringify(err.details)}`);
    return;
  }
  throw new Error(`${what}: status ${grpc.status[err.code] ?? err.code} (${JSON.stringify(err.details)})`);
}

// ---- The typed model's reference: total = sum(ids where mask), count = popcount(mask), scaled = total * scale ----

interface TypedRows {
  readonly ids: number[];
  readonly mask: boolean[];
  readonly scale: number[];
}

const rowsOf = (r: TypedRows): number => r.scale.length;

function expected(r: TypedRows): { total: number[]; count: number[]; scaled: number[] } {
  const total: number[] = [];
  const count: number[] = [];
  const scaled: number[] = [];
  for (let i = 0; i < rowsOf(r); i++) {
    let s = 0;
    let c = 0;
    for (let j = 0; j < 3; j++) {
      if (r.mask[i * 3 + j] === true) {
        s += r.ids[i * 3 + j] as number;
        c++;
      }
    }
    total.push(s);
    count.push(c);
    scaled.push(Math.fround(Math.fround(s) * (r.scale[i] as number)));
  }
  return { total, count, scaled };
}

const closeTo = (a: number, b: number): boolean => a === b || Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

function assertTyped(r: TypedRows, got: { total: number[]; count: number[]; scaled: number[] }, what: string): void {
  const want = expected(r);
  const same =
    got.total.length === want.total.length &&
    got.total.every((v, i) => v === want.total[i]) &&
    got.count.every((v, i) => v === want.count[i]) &&
    got.scaled.every((v, i) => closeTo(v, want.scaled[i] as number));
  if (!same) throw new Error(`${what}: wrong answer ${JSON.stringify(got)} for ${JSON.stringify(r)}; expected ${JSON.stringify(want)}`);
}

const typedRows: fc.Arbitrary<TypedRows> = fc.integer({ min: 1, max: 5 }).chain((n) =>
  fc.record({
    ids: fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { minLength: 3 * n, maxLength: 3 * n }),
    mask: fc.array(fc.boolean(), { minLength: 3 * n, maxLength: 3 * n }),
    scale: fc.array(fc.float({ min: -100, max: 100, noNaN: true }).map(Math.fround), { minLength: n, maxLength: n }),
  }),
);

// ---- quiver.v1 tensors ----

function tensor(datatype: DataType, shape: number[], data: Partial<Tensor> = {}): Tensor {
  return { datatype, shape, fp32Data: [], fp64Data: [], int32Data: [], int64Data: [], boolData: [], rawData: Buffer.alloc(0), ...data };
}

const bytes = (a: Float32Array | BigInt64Array | Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function typedInputs(r: TypedRows, raw: readonly boolean[]): Map<string, Tensor> {
  const n = rowsOf(r);
  return new Map([
    [
      'ids',
      raw[0] === true
        ? tensor(DataType.DATA_TYPE_INT64, [n, 3], { rawData: bytes(BigInt64Array.from(r.ids, BigInt)) })
        : tensor(DataType.DATA_TYPE_INT64, [n, 3], { int64Data: r.ids }),
    ],
    [
      'mask',
      raw[1] === true
        ? tensor(DataType.DATA_TYPE_BOOL, [n, 3], { rawData: bytes(Uint8Array.from(r.mask, Number)) })
        : tensor(DataType.DATA_TYPE_BOOL, [n, 3], { boolData: r.mask }),
    ],
    [
      'scale',
      raw[2] === true
        ? tensor(DataType.DATA_TYPE_FP32, [n, 1], { rawData: bytes(Float32Array.from(r.scale)) })
        : tensor(DataType.DATA_TYPE_FP32, [n, 1], { fp32Data: r.scale }),
    ],
  ]);
}

function numbers(t: Tensor | undefined): number[] {
  if (t === undefined) return [];
  if (t.rawData.length > 0) {
    const b = Buffer.from(t.rawData);
    if (t.datatype === DataType.DATA_TYPE_INT64) return Array.from(new BigInt64Array(b.buffer, b.byteOffset, b.length / 8), Number);
    if (t.datatype === DataType.DATA_TYPE_INT32) return Array.from(new Int32Array(b.buffer, b.byteOffset, b.length / 4));
    return Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
  }
  return [...t.int64Data, ...t.int32Data, ...t.fp32Data];
}

const typedAnswer = (res: PredictResponse) => ({
  total: numbers(res.outputs.get('total')),
  count: numbers(res.outputs.get('count')),
  scaled: numbers(res.outputs.get('scaled')),
});

// ---- The oracle: what the typed model accepts, decided independently of the server's code ----

type Field = 'fp32Data' | 'fp64Data' | 'int32Data' | 'int64Data' | 'boolData';
const FIELDS: readonly Field[] = ['fp32Data', 'fp64Data', 'int32Data', 'int64Data', 'boolData'];
const SPEC = {
  ids: { datatype: DataType.DATA_TYPE_INT64, width: 3, field: 'int64Data', size: 8 },
  mask: { datatype: DataType.DATA_TYPE_BOOL, width: 3, field: 'boolData', size: 1 },
  scale: { datatype: DataType.DATA_TYPE_FP32, width: 1, field: 'fp32Data', size: 4 },
} as const;

/** The elements of one input when it is exactly what the model takes (else undefined). */
function elementsOf(t: Tensor | undefined, name: keyof typeof SPEC, rows: number): number[] | undefined {
  const spec = SPEC[name];
  if (t === undefined || t.datatype !== spec.datatype) return undefined;
  if (t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] !== spec.width) return undefined;
  const count = rows * spec.width;
  if (FIELDS.some((f) => f !== spec.field && t[f].length > 0)) return undefined;
  const typed = t[spec.field] as Array<number | boolean>;
  if (t.rawData.length > 0) {
    if (typed.length > 0 || t.rawData.length !== count * spec.size) return undefined;
    const b = Buffer.from(t.rawData);
    if (name === 'ids') return Array.from(new BigInt64Array(b.buffer, b.byteOffset, count), Number);
    if (name === 'mask') return Array.from(b);
    return Array.from(new Float32Array(b.buffer, b.byteOffset, count));
  }
  if (typed.length !== count) return undefined;
  return typed.map(Number);
}

/** The rows a quiver.v1 input map carries when the typed model must accept it; undefined when it must not. */
function acceptedRows(inputs: Map<string, Tensor>): TypedRows | undefined {
  if (inputs.size !== 3) return undefined;
  const rows = inputs.get('scale')?.shape[0];
  if (rows === undefined || !Number.isSafeInteger(rows) || rows < 1 || rows > MAX_ROWS) return undefined;
  const ids = elementsOf(inputs.get('ids'), 'ids', rows);
  const mask = elementsOf(inputs.get('mask'), 'mask', rows);
  const scale = elementsOf(inputs.get('scale'), 'scale', rows);
  if (ids === undefined || mask === undefined || scale === undefined || !scale.every(Number.isFinite)) return undefined;
  return { ids, mask: mask.map((m) => m !== 0), scale };
}

const versionServed = (v: string): boolean => v === '' || v === '1';

/**
 * True when an answer may hold an INT64 beyond +-(2^53 - 1): the server writes it exactly, but
 * the generated TypeScript client (int64 as JS numbers) refuses to read it ("Response message
 * parsing error", raised in the client). Only ids from random raw bytes get there.
 */
const beyondClient = (ids: readonly number[] | undefined): boolean => (ids ?? []).some((v) => Math.abs(v) > 2 ** 50);
const clientCannotRead = (err: grpc.ServiceError): boolean => err.details.startsWith('Response message parsing error');

/** A demo-model (binary classifier) answer: two probabilities summing to 1, the argmax as the prediction. */
function checkDemoAnswer(res: PredictResponse, what: string): void {
  const [p0, p1] = res.probabilities as [number, number];
  const ok =
    res.modelName === 'production-model' &&
    res.modelVersion === '1' &&
    res.probabilities.length === 2 &&
    p0 >= 0 &&
    p1 >= 0 &&
    Math.abs(p0 + p1 - 1) < 1e-5 &&
    res.prediction === (p1 > p0 ? 1 : 0) &&
    res.probability === Math.max(p0, p1);
  if (!ok) throw new Error(`${what}: malformed answer ${JSON.stringify(res)}`);
}

// ---- Hostile pieces ----

const FEATURE_NAMES = BLUEPRINT_ROW.map((_, i) => `feature_${i}`);
const modelName = fc.oneof(
  { arbitrary: fc.constantFrom('production-model', 'typed'), weight: 8 },
  { arbitrary: fc.constantFrom('', 'nope', '../typed', 'typed\u0000', 'TYPED', 'x'.repeat(300)), weight: 1 },
);
const modelVersion = fc.oneof(
  { arbitrary: fc.constant(''), weight: 8 },
  { arbitrary: fc.constantFrom('1', '2', '0', '-1', 'production', 'champion', '1.0', '99999999999999999999', '%00', ' 1'), weight: 2 },
);
const anyDouble = fc.oneof(
  { arbitrary: fc.double({ min: -10, max: 10, noNaN: true }), weight: 6 },
  { arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 1e308, -1e308, Number.MIN_VALUE), weight: 1 },
  { arbitrary: fc.double(), weight: 1 },
);
const featureKey = fc.oneof(
  { arbitrary: fc.constantFrom(...FEATURE_NAMES), weight: 8 },
  { arbitrary: fc.constantFrom('feature_10', 'Feature_0', 'feature_0 ', '', 'ids', '\u0000'), weight: 1 },
  { arbitrary: fc.string({ maxLength: 8 }), weight: 1 },
);
/** Feature maps with features missing, extra, non-finite, or all present and fine. */
const featureMap: fc.Arbitrary<Map<string, number>> = fc.oneof(
  fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 10, maxLength: 10 }).map((v) => blueprintFeatures(v)),
  fc.dictionary(featureKey, anyDouble, { maxKeys: 14 }).map((o) => new Map(Object.entries(o))),
  fc
    .tuple(fc.subarray(FEATURE_NAMES), fc.array(fc.tuple(featureKey, anyDouble), { maxLength: 3 }))
    .map(([keep, extra]) => new Map([...keep.map((k): [string, number] => [k, 1]), ...extra])),
);

const dim = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 5 }), weight: 10 },
  { arbitrary: fc.constantFrom(-1, -(2 ** 31), 2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER, 65536), weight: 1 },
);
const shape = fc.array(dim, { maxLength: 4 });
const dataType = fc.oneof(
  { arbitrary: fc.constantFrom(DataType.DATA_TYPE_FP32, DataType.DATA_TYPE_INT64, DataType.DATA_TYPE_BOOL), weight: 6 },
  {
    arbitrary: fc.constantFrom(DataType.DATA_TYPE_UNSPECIFIED, DataType.DATA_TYPE_FP64, DataType.DATA_TYPE_INT32, 99 as DataType),
    weight: 2,
  },
);
/** Any tensor: any datatype, shape, and any data in any field, of any length. */
const anyTensor: fc.Arbitrary<Tensor> = fc.record({
  datatype: dataType,
  shape,
  fp32Data: fc.array(fc.float(), { maxLength: 12 }),
  fp64Data: fc.array(fc.double(), { maxLength: 4 }),
  int32Data: fc.array(fc.integer(), { maxLength: 4 }),
  int64Data: fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { maxLength: 12 }),
  boolData: fc.array(fc.boolean(), { maxLength: 12 }),
  rawData: fc.uint8Array({ maxLength: 48 }).map((u) => Buffer.from(u)),
});

type TensorMutation = (m: Map<string, Tensor>) => void;

/** Changes input `k` when it is there (an earlier mutation may have dropped it). */
const edit =
  (k: string, fn: (t: Tensor) => Tensor): TensorMutation =>
  (m) => {
    const t = m.get(k);
    if (t !== undefined) m.set(k, fn(t));
  };
const inputName = fc.constantFrom('ids', 'mask', 'scale');
/** A tensor's first dimension, clamped to something an array can hold (an earlier mutation may have made it anything). */
const rowsIn = (t: Tensor): number => Math.min(Math.max(t.shape[0] ?? 1, 1), MAX_ROWS * 2);

/** One thing wrong with an otherwise valid set of typed inputs. */
const tensorMutation: fc.Arbitrary<TensorMutation> = fc.oneof(
  inputName.map((k) => (m: Map<string, Tensor>) => void m.delete(k)),
  fc.tuple(fc.constantFrom('other', '', 'IDS', 'ids', 'mask', 'scale'), anyTensor).map(
    ([k, t]) =>
      (m: Map<string, Tensor>) =>
        void m.set(k, t),
  ),
  fc.tuple(inputName, dataType).map(([k, d]) => edit(k, (t) => ({ ...t, datatype: d }))),
  fc.tuple(inputName, shape).map(([k, s]) => edit(k, (t) => ({ ...t, shape: s }))),
  // One element short or one too many, in whichever field carries the data.
  fc.tuple(inputName, fc.boolean()).map(([k, more]) =>
    edit(k, (t) => {
      if (t.rawData.length > 0) return { ...t, rawData: more ? Buffer.concat([t.rawData, Buffer.alloc(1)]) : t.rawData.subarray(1) };
      const f = k === 'ids' ? 'int64Data' : k === 'mask' ? 'boolData' : 'fp32Data';
      const data = t[f] as unknown[];
      return { ...t, [f]: more || data.length === 0 ? [...data, data[0] ?? 0] : data.slice(1) };
    }),
  ),
  // Data in a second field as well, or in raw_data as well.
  fc
    .tuple(inputName, fc.constantFrom<Partial<Tensor>>({ fp64Data: [1] }, { int32Data: [1] }, { rawData: Buffer.alloc(8) }))
    .map(([k, extra]) => edit(k, (t) => ({ ...t, ...extra }))),
  // Non-finite values in the FP32 input.
  fc
    .constantFrom(Number.NaN, Infinity, -Infinity)
    .map((v) => edit('scale', (t) => tensor(DataType.DATA_TYPE_FP32, t.shape, { fp32Data: Array<number>(rowsIn(t)).fill(v) }))),
  // Rows that disagree between inputs.
  fc.constant(
    edit('scale', (t) => tensor(DataType.DATA_TYPE_FP32, [rowsIn(t) + 1, 1], { fp32Data: Array<number>(rowsIn(t) + 1).fill(1) })),
  ),
  // BOOL as raw bytes other than 0 and 1 (still valid: any non-zero byte is true).
  fc.constantFrom(2, 255).map((b) =>
    edit('mask', (t) => ({
      ...t,
      boolData: [],
      rawData: Buffer.from(t.boolData.length > 0 ? t.boolData.map((x) => (x ? b : 0)) : t.rawData),
    })),
  ),
);

interface TypedCase {
  readonly rows: TypedRows;
  readonly inputs: Map<string, Tensor>;
}

const typedCase: fc.Arbitrary<TypedCase> = fc
  .tuple(
    typedRows,
    fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    fc.option(fc.array(tensorMutation, { minLength: 1, maxLength: 2 }), { freq: 3 }),
  )
  .map(([rows, raw, mutations]) => {
    const inputs = typedInputs(rows, raw);
    for (const m of mutations ?? []) m(inputs);
    return { rows, inputs };
  });

// ---- Predict ----

const predictCase = fc.oneof(
  // Valid typed requests, and the same with something wrong.
  fc.tuple(typedCase, modelVersion).map(([c, v]) => ({
    req: { modelName: 'typed', modelVersion: v, features: new Map<string, number>(), inputs: c.inputs, id: 'typed' },
  })),
  // Feature maps to the demo model, or to the typed one (which takes none).
  fc.record({ modelName, modelVersion, features: featureMap, id: fc.string({ maxLength: 4 }) }).map((r) => ({
    req: { ...r, inputs: new Map<string, Tensor>() },
  })),
  // Anything at all: both forms at once, tensors to the feature model, garbage tensors.
  fc
    .record({
      modelName,
      modelVersion,
      features: fc.oneof(fc.constant(new Map<string, number>()), featureMap),
      inputs: fc
        .dictionary(fc.constantFrom('ids', 'mask', 'scale', 'features', 'x', ''), anyTensor, { maxKeys: 4 })
        .map((o) => new Map(Object.entries(o))),
      id: fc.constant(''),
    })
    .map((req) => ({ req })),
);

/** The demo model's input is FP32: a feature must be finite once rounded to float32 (|v| <= 3.4e38). */
const isValidFeatures = (features: ReadonlyMap<string, number>): boolean =>
  features.size === 10 && FEATURE_NAMES.every((n) => Number.isFinite(Math.fround(features.get(n) ?? Number.NaN)));

/** What the server must do with a Predict: 'features' or typed rows when it must succeed; undefined when it must fail. */
function predictOracle(req: PredictRequest): TypedRows | 'features' | undefined {
  if (!versionServed(req.modelVersion)) return undefined;
  if (req.modelName === 'production-model') return req.inputs.size === 0 && isValidFeatures(req.features) ? 'features' : undefined;
  if (req.modelName === 'typed') return req.features.size === 0 ? acceptedRows(req.inputs) : undefined;
  return undefined;
}

test.serial('Predict: valid requests get the right answer; anything else INVALID_ARGUMENT or NOT_FOUND naming the field', async (t) => {
  const seen = { ok: 0, invalid: 0, notFound: 0 };
  await fc.assert(
    fc.asyncProperty(predictCase, async ({ req }) => {
      const what = `Predict ${JSON.stringify(req.modelName)}:${JSON.stringify(req.modelVersion)}`;
      const o = await outcome(srv.client.predict(req, deadline()));
      const expect = predictOracle(req);
      if (!o.ok) {
        if (typeof expect === 'object' && beyondClient(expect.ids) && clientCannotRead(o.err)) return;
        if (expect !== undefined) throw new Error(`${what}: a valid request failed: ${o.err.details}`);
        checkError(o.err, what);
        seen[o.err.code === grpc.status.NOT_FOUND ? 'notFound' : 'invalid']++;
        return;
      }
      seen.ok++;
      if (expect === undefined) throw new Error(`${what}: accepted an invalid request: ${show(req)}`);
      if (expect === 'features') checkDemoAnswer(o.res, what);
      else assertTyped(expect, typedAnswer(o.res), what);
    }),
    { numRuns: NUM_RUNS * 2, includeErrorInReport: true },
  );
  t.log(seen);
  t.true(seen.ok > 0 && seen.invalid > 0 && seen.notFound > 0);
});

// ---- BatchPredict ----

const typedInstance: fc.Arbitrary<Instance> = typedCase.map((c) => ({ features: new Map(), inputs: c.inputs, id: '' }));
const featureInstance: fc.Arbitrary<Instance> = featureMap.map((features) => ({ features, inputs: new Map(), id: 'f' }));
const mixedInstance: fc.Arbitrary<Instance> = fc
  .tuple(featureMap, typedCase)
  .map(([features, c]) => ({ features, inputs: c.inputs, id: 'both' }));

function instanceOracle(inst: Instance, model: string): TypedRows | 'features' | undefined {
  if (model === 'production-model') return inst.inputs.size === 0 && isValidFeatures(inst.features) ? 'features' : undefined;
  if (model === 'typed') return inst.features.size === 0 ? acceptedRows(inst.inputs) : undefined;
  return undefined;
}

/** The rows of a dense [N, 10] FP32 batch the feature model must accept; undefined when it must not. */
function denseRows(t: Tensor): number | undefined {
  const n = t.shape[0];
  if (t.datatype !== DataType.DATA_TYPE_FP32 || t.shape.length !== 2 || t.shape[1] !== 10 || n === undefined || n < 1 || n > MAX_ROWS)
    return undefined;
  if (FIELDS.some((f) => f !== 'fp32Data' && t[f].length > 0)) return undefined;
  let values: number[];
  if (t.rawData.length > 0) {
    if (t.fp32Data.length > 0 || t.rawData.length !== n * 40) return undefined;
    const b = Buffer.from(t.rawData);
    values = Array.from(new Float32Array(b.buffer, b.byteOffset, n * 10));
  } else values = t.fp32Data;
  return values.length === n * 10 && values.every(Number.isFinite) ? n : undefined;
}

const denseTensor: fc.Arbitrary<Tensor> = fc.oneof(
  fc.integer({ min: 0, max: MAX_ROWS + 2 }).chain((n) =>
    fc
      .tuple(fc.array(anyDouble.map(Math.fround), { minLength: n * 10, maxLength: n * 10 }), fc.boolean(), fc.constantFrom(0, 0, 0, -1, 1))
      .map(([values, raw, off]) => {
        const data = off === 1 ? [...values, 0] : values.slice(0, Math.max(0, values.length + off));
        return raw
          ? tensor(DataType.DATA_TYPE_FP32, [n, 10], { rawData: bytes(Float32Array.from(data)) })
          : tensor(DataType.DATA_TYPE_FP32, [n, 10], { fp32Data: data });
      }),
  ),
  anyTensor,
);

test.serial('BatchPredict: ragged and mixed instances each fail alone, naming requests[i]; dense batches are checked whole', async (t) => {
  const seen = { ok: 0, itemErrors: 0, callErrors: 0 };
  await fc.assert(
    fc.asyncProperty(
      modelName,
      modelVersion,
      fc.oneof(
        fc
          .array(
            fc.oneof(
              { arbitrary: typedInstance, weight: 3 },
              { arbitrary: featureInstance, weight: 3 },
              { arbitrary: mixedInstance, weight: 1 },
            ),
            {
              maxLength: 6,
            },
          )
          .map((requests) => ({ requests, dense: undefined })),
        denseTensor.map((dense) => ({ requests: [] as Instance[], dense })),
        fc.tuple(featureInstance, denseTensor).map(([item, dense]) => ({ requests: [item], dense })),
      ),
      async (name, version, { requests, dense }) => {
        const what = `BatchPredict ${JSON.stringify(name)}:${JSON.stringify(version)}`;
        const o = await outcome(srv.client.batchPredict({ modelName: name, modelVersion: version, requests, dense }, deadline()));
        const served = (name === 'production-model' || name === 'typed') && versionServed(version);
        const items = requests.map((r) => instanceOracle(r, name));
        const rows = items.reduce((n, x) => n + (x === undefined ? 0 : x === 'features' ? 1 : rowsOf(x)), 0);
        const denseOk =
          dense !== undefined && requests.length === 0 && name === 'production-model' && served && denseRows(dense) !== undefined;
        const mustSucceed =
          denseOk || (served && dense === undefined && requests.length >= 1 && requests.length <= MAX_ROWS && rows <= MAX_ROWS);
        if (!o.ok) {
          if (items.some((x) => typeof x === 'object' && beyondClient(x.ids)) && clientCannotRead(o.err)) return;
          if (mustSucceed) throw new Error(`${what}: a valid batch failed: ${o.err.details}; ${show(requests)}`);
          checkError(o.err, what);
          seen.callErrors++;
          return;
        }
        const res: BatchPredictResponse = o.res;
        if (dense !== undefined && requests.length === 0) {
          if (!denseOk) throw new Error(`${what}: accepted an invalid dense batch ${show(dense)}`);
          const n = denseRows(dense) as number;
          const probs = numbers(res.denseOutputs.get('probabilities'));
          if (probs.length !== 2 * n) throw new Error(`${what}: ${probs.length} probabilities for ${n} rows`);
          seen.ok++;
          return;
        }
        if (!mustSucceed) throw new Error(`${what}: accepted a batch that should fail whole: ${show({ requests, dense })}`);
        if (res.responses.length !== requests.length)
          throw new Error(`${what}: ${res.responses.length} answers for ${requests.length} instances`);
        res.responses.forEach((item, i) => {
          const expect = items[i];
          const code = item.status?.code ?? 0;
          if (code !== 0) {
            const message = item.status?.message ?? '';
            if (code !== grpc.status.INVALID_ARGUMENT || !message.startsWith(`requests[${i}]`))
              throw new Error(`${what}: item ${i} failed ${code} without naming requests[${i}]: ${message}`);
            if (expect !== undefined) throw new Error(`${what}: valid item ${i} failed: ${message}`);
            seen.itemErrors++;
            return;
          }
          if (expect === undefined) throw new Error(`${what}: invalid item ${i} accepted: ${show(requests[i])}`);
          const result = item.result as PredictResponse;
          if (expect === 'features') checkDemoAnswer(result, `${what} item ${i}`);
          else assertTyped(expect, typedAnswer(result), `${what} item ${i}`);
          seen.ok++;
        });
      },
    ),
    { numRuns: NUM_RUNS, includeErrorInReport: true },
  );
  t.log(seen);
  t.true(seen.ok > 0 && seen.itemErrors > 0 && seen.callErrors > 0);
});

// ---- OIP ModelInfer ----

function contents(c: Partial<InferTensorContents>): InferTensorContents {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
    ...c,
  };
}

function oipInput(name: string, datatype: string, shp: number[], c: InferTensorContents | undefined): ModelInferRequest_InferInputTensor {
  return { name, datatype, shape: shp, parameters: new Map(), contents: c };
}

function oipRequest(partial: Partial<ModelInferRequest>): ModelInferRequest {
  return { modelName: 'typed', modelVersion: '', id: '', parameters: new Map(), inputs: [], outputs: [], rawInputContents: [], ...partial };
}

/** The typed model's rows as an OIP request, typed contents or raw. */
function oipTyped(r: TypedRows, raw: boolean): ModelInferRequest {
  const n = rowsOf(r);
  if (raw) {
    return oipRequest({
      inputs: [
        oipInput('ids', 'INT64', [n, 3], undefined),
        oipInput('mask', 'BOOL', [n, 3], undefined),
        oipInput('scale', 'FP32', [n, 1], undefined),
      ],
      rawInputContents: [
        bytes(BigInt64Array.from(r.ids, BigInt)),
        bytes(Uint8Array.from(r.mask, Number)),
        bytes(Float32Array.from(r.scale)),
      ],
    });
  }
  return oipRequest({
    inputs: [
      oipInput('ids', 'INT64', [n, 3], contents({ int64Contents: r.ids })),
      oipInput('mask', 'BOOL', [n, 3], contents({ boolContents: r.mask })),
      oipInput('scale', 'FP32', [n, 1], contents({ fp32Contents: r.scale })),
    ],
  });
}

const oipDatatype = fc.oneof(
  { arbitrary: fc.constantFrom('FP32', 'INT64', 'BOOL'), weight: 4 },
  { arbitrary: fc.constantFrom('FP64', 'INT32', 'UINT8', 'FP16', 'BF16', 'BYTES', '', 'fp32', 'FLOAT'), weight: 2 },
);
const anyContents: fc.Arbitrary<InferTensorContents | undefined> = fc.option(
  fc.record({
    boolContents: fc.array(fc.boolean(), { maxLength: 8 }),
    intContents: fc.array(fc.integer(), { maxLength: 4 }),
    int64Contents: fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { maxLength: 8 }),
    uintContents: fc.array(fc.nat(), { maxLength: 2 }),
    uint64Contents: fc.array(fc.nat(), { maxLength: 2 }),
    fp32Contents: fc.array(fc.float(), { maxLength: 8 }),
    fp64Contents: fc.array(fc.double(), { maxLength: 2 }),
    bytesContents: fc.array(
      fc.uint8Array({ maxLength: 4 }).map((u) => Buffer.from(u)),
      { maxLength: 2 },
    ),
  }),
  { nil: undefined },
);
const anyOipInput = fc
  .record({ name: fc.constantFrom('ids', 'mask', 'scale', 'features', '', 'x'), datatype: oipDatatype, shape, contents: anyContents })
  .map((i) => oipInput(i.name, i.datatype, i.shape, i.contents));

type OipMutation = (r: ModelInferRequest) => ModelInferRequest;
const oipMutation: fc.Arbitrary<OipMutation> = fc.oneof(
  fc.nat().map((k) => (r: ModelInferRequest) => ({ ...r, inputs: r.inputs.filter((_, i) => i !== k % 3) })),
  fc
    .tuple(fc.nat(), anyOipInput)
    .map(([k, inp]) => (r: ModelInferRequest) => ({ ...r, inputs: r.inputs.map((x, i) => (i === k % 3 ? inp : x)) })),
  anyOipInput.map((inp) => (r: ModelInferRequest) => ({ ...r, inputs: [...r.inputs, inp] })),
  fc
    .tuple(fc.nat(), oipDatatype)
    .map(([k, d]) => (r: ModelInferRequest) => ({ ...r, inputs: r.inputs.map((x, i) => (i === k % 3 ? { ...x, datatype: d } : x)) })),
  fc
    .tuple(fc.nat(), shape)
    .map(([k, s]) => (r: ModelInferRequest) => ({ ...r, inputs: r.inputs.map((x, i) => (i === k % 3 ? { ...x, shape: s } : x)) })),
  fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 40 })).map(([k, u]) => (r: ModelInferRequest) => ({
    ...r,
    rawInputContents:
      r.rawInputContents.length === 0 ? [Buffer.from(u)] : r.rawInputContents.map((x, i) => (i === k % 3 ? Buffer.from(u) : x)),
  })),
  fc.constant((r: ModelInferRequest) => ({ ...r, rawInputContents: r.rawInputContents.slice(1) })),
  fc.constant((r: ModelInferRequest) => ({ ...r, inputs: [...r.inputs, ...r.inputs.slice(0, 1)] })),
  fc
    .array(fc.constantFrom('total', 'count', 'scaled', 'label', 'probabilities', 'nope', ''), { minLength: 1, maxLength: 4 })
    .map((names) => (r: ModelInferRequest) => ({
      ...r,
      outputs: names.map((name) => ({ name, parameters: new Map() })),
    })),
);

/** Each served model's inputs as OIP sees them: name, datatype, width of the [N, width] shape. */
const OIP_INPUTS: Record<string, ReadonlyArray<{ name: string; datatype: string; width: number; size: number }>> = {
  'production-model': [{ name: 'features', datatype: 'FP32', width: 10, size: 4 }],
  typed: [
    { name: 'ids', datatype: 'INT64', width: 3, size: 8 },
    { name: 'mask', datatype: 'BOOL', width: 3, size: 1 },
    { name: 'scale', datatype: 'FP32', width: 1, size: 4 },
  ],
};
const OIP_OUTPUTS: Record<string, readonly string[]> = {
  'production-model': ['label', 'probabilities'],
  typed: ['total', 'scaled', 'count'],
};
const CONTENTS_FOR: Record<string, keyof InferTensorContents> = { FP32: 'fp32Contents', INT64: 'int64Contents', BOOL: 'boolContents' };

interface OipAccepted {
  readonly rows: number;
  readonly values: Record<string, number[]>;
  /** The outputs that come back, in order. */
  readonly outputs: readonly string[];
}

/** What a ModelInfer must be accepted as (decided independently of the server), or undefined when it must fail. */
function oipOracle(req: ModelInferRequest): OipAccepted | undefined {
  const specs = OIP_INPUTS[req.modelName];
  const outs = OIP_OUTPUTS[req.modelName];
  if (specs === undefined || outs === undefined || !versionServed(req.modelVersion)) return undefined;
  const requested = req.outputs.map((o) => o.name);
  if (requested.some((n) => !outs.includes(n)) || new Set(requested).size !== requested.length) return undefined;
  if (req.inputs.length !== specs.length) return undefined;
  const raw = req.rawInputContents.length > 0;
  if (raw && req.rawInputContents.length !== req.inputs.length) return undefined;
  const rows = req.inputs[0]?.shape[0];
  if (rows === undefined || rows < 1 || rows > MAX_ROWS) return undefined;
  const values: Record<string, number[]> = {};
  for (const [i, input] of req.inputs.entries()) {
    const spec = specs.find((x) => x.name === input.name);
    if (spec === undefined || values[spec.name] !== undefined || input.datatype !== spec.datatype) return undefined;
    if (input.shape.length !== 2 || input.shape[0] !== rows || input.shape[1] !== spec.width) return undefined;
    const count = rows * spec.width;
    const c = input.contents;
    const own = CONTENTS_FOR[spec.datatype] as keyof InferTensorContents;
    if (raw) {
      const b = req.rawInputContents[i] as Buffer;
      if (c !== undefined && Object.values(c).some((a: unknown[]) => a.length > 0)) return undefined;
      if (b.length !== count * spec.size) return undefined;
      const copy = Buffer.from(b);
      values[spec.name] =
        spec.datatype === 'INT64'
          ? Array.from(new BigInt64Array(copy.buffer, copy.byteOffset, count), Number)
          : spec.datatype === 'BOOL'
            ? Array.from(copy, (x) => (x === 0 ? 0 : 1))
            : Array.from(new Float32Array(copy.buffer, copy.byteOffset, count));
    } else {
      if (c === undefined) return undefined;
      if ((Object.keys(c) as Array<keyof InferTensorContents>).some((k) => k !== own && c[k].length > 0)) return undefined;
      if (c[own].length !== count) return undefined;
      values[spec.name] = (c[own] as Array<number | boolean>).map(Number);
    }
    if (spec.datatype === 'FP32' && !(values[spec.name] as number[]).every(Number.isFinite)) return undefined;
  }
  return { rows, values, outputs: requested.length > 0 ? requested : outs };
}

function oipOutput(res: ModelInferResponse, name: string): number[] {
  const i = res.outputs.findIndex((o) => o.name === name);
  const o = res.outputs[i];
  if (o === undefined) return [];
  const raw = res.rawOutputContents[i];
  if (raw !== undefined && raw.length > 0) {
    const b = Buffer.from(raw);
    if (o.datatype === 'INT64') return Array.from(new BigInt64Array(b.buffer, b.byteOffset, b.length / 8), Number);
    if (o.datatype === 'INT32') return Array.from(new Int32Array(b.buffer, b.byteOffset, b.length / 4));
    return Array.from(new Float32Array(b.buffer, b.byteOffset, b.length / 4));
  }
  const c = o.contents;
  return c === undefined ? [] : [...c.int64Contents, ...c.intContents, ...c.fp32Contents];
}

function checkOipAnswer(req: ModelInferRequest, res: ModelInferResponse, want: OipAccepted, what: string): void {
  const names = res.outputs.map((o) => o.name);
  if (JSON.stringify(names.slice().sort()) !== JSON.stringify([...want.outputs].sort()))
    throw new Error(`${what}: outputs ${names.join(',')}, expected ${want.outputs.join(',')}`);
  if (res.modelName !== req.modelName || res.modelVersion !== '1')
    throw new Error(`${what}: answered as ${res.modelName}:${res.modelVersion}`);
  if (req.modelName === 'typed') {
    const rows: TypedRows = {
      ids: want.values.ids ?? [],
      mask: (want.values.mask ?? []).map((m) => m !== 0),
      scale: want.values.scale ?? [],
    };
    const exp = expected(rows);
    for (const name of want.outputs) {
      const got = oipOutput(res, name);
      const ref = exp[name as 'total' | 'count' | 'scaled'];
      if (got.length !== ref.length || !got.every((v, i) => closeTo(v, ref[i] as number)))
        throw new Error(`${what}: ${name} = ${JSON.stringify(got)}, expected ${JSON.stringify(ref)} for ${JSON.stringify(rows)}`);
    }
  } else {
    for (const name of want.outputs) {
      const got = oipOutput(res, name);
      const n = name === 'probabilities' ? 2 * want.rows : want.rows;
      if (got.length !== n || !got.every((v) => v >= 0 && v <= 1)) throw new Error(`${what}: ${name} = ${JSON.stringify(got)}`);
    }
  }
}

test.serial(
  'OIP ModelInfer: arbitrary tensors, shapes, datatypes and raw lengths: INVALID_ARGUMENT or NOT_FOUND naming the field',
  async (t) => {
    const seen = { ok: 0, invalid: 0, notFound: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc
            .tuple(
              typedRows,
              fc.boolean(),
              fc.option(fc.array(oipMutation, { minLength: 1, maxLength: 2 }), { freq: 3 }),
              modelName,
              modelVersion,
            )
            .map(([rows, raw, mutations, name, version]) => {
              let req = oipTyped(rows, raw);
              for (const m of mutations ?? []) req = m(req);
              return { ...req, modelName: name, modelVersion: version };
            }),
          fc
            .record({
              name: modelName,
              version: modelVersion,
              inputs: fc.array(anyOipInput, { maxLength: 4 }),
              raw: fc.array(
                fc.uint8Array({ maxLength: 48 }).map((u) => Buffer.from(u)),
                { maxLength: 4 },
              ),
            })
            .map(({ name, version, inputs, raw }) => oipRequest({ modelName: name, modelVersion: version, inputs, rawInputContents: raw })),
        ),
        async (req) => {
          const what = `ModelInfer ${JSON.stringify(req.modelName)}:${JSON.stringify(req.modelVersion)}`;
          const o = await outcome(infer(req));
          const want = oipOracle(req);
          if (!o.ok) {
            if (want !== undefined && beyondClient(want.values.ids) && clientCannotRead(o.err)) return;
            if (want !== undefined) throw new Error(`${what}: a valid request failed: ${o.err.details}; ${show(req)}`);
            checkError(o.err, what);
            seen[o.err.code === grpc.status.NOT_FOUND ? 'notFound' : 'invalid']++;
            return;
          }
          if (want === undefined) throw new Error(`${what}: accepted an invalid request: ${show(req)}`);
          checkOipAnswer(req, o.res, want, what);
          seen.ok++;
        },
      ),
      { numRuns: NUM_RUNS * 2, includeErrorInReport: true },
    );
    t.log(seen);
    t.true(seen.ok > 0 && seen.invalid > 0 && seen.notFound > 0);
  },
);

// ---- Regressions: the counterexamples these properties found, kept as plain tests ----

test.serial('regression: BOOL raw_data bytes other than 0/1 count as true (were passed to onnxruntime as is: count 2)', async (t) => {
  // Found by the Predict property: mask raw_data [0, 2, 0] answered count = 2 (BatchPredict the same).
  const inputs = typedInputs({ ids: [5, 7, 11], mask: [false, true, false], scale: [2] }, [false, false, false]);
  inputs.set('mask', tensor(DataType.DATA_TYPE_BOOL, [1, 3], { rawData: Buffer.from([0, 2, 255]) }));
  const res = await srv.client.predict({ modelName: 'typed', inputs });
  t.deepEqual(typedAnswer(res), { total: [18], count: [2], scaled: [36] });
  const batch = await srv.client.batchPredict({ modelName: 'typed', requests: [{ features: new Map(), inputs, id: '' }] });
  t.deepEqual(typedAnswer(batch.responses[0]?.result as PredictResponse), { total: [18], count: [2], scaled: [36] });
  // Over REST (the same conversion, base64 raw_data).
  const rest = await fetch(`${srv.http}/v1/models/typed:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      inputs: {
        ids: { datatype: 'DATA_TYPE_INT64', shape: [1, 3], int64Data: [5, 7, 11] },
        mask: { datatype: 'DATA_TYPE_BOOL', shape: [1, 3], rawData: Buffer.from([0, 2, 255]).toString('base64') },
        scale: { datatype: 'DATA_TYPE_FP32', shape: [1, 1], fp32Data: [2] },
      },
    }),
  });
  const json = (await rest.json()) as { outputs: Record<string, { int64Data?: number[]; int32Data?: number[] }> };
  t.is(rest.status, 200);
  t.deepEqual(json.outputs.count?.int32Data, [2]);
  t.deepEqual(json.outputs.total?.int64Data, [18]);
});

test.serial('regression: a finite feature beyond FP32 range is INVALID_ARGUMENT (was accepted: NaN probabilities)', async (t) => {
  // Found by the Predict property: feature_5 = 1e308 became Infinity in the FP32 input; the answer had null probabilities.
  for (const bad of [1e308, -1e308, 3.4028235677973366e38]) {
    const features = blueprintFeatures(BLUEPRINT_ROW);
    features.set('feature_5', bad);
    const err = await grpcError(srv.client.predict({ features }));
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.regex(
      err.details,
      /^features\.feature_5: -?[0-9.e+]+ is out of range for the model's FP32 input; expected a finite number within \+-3\.4e38$/,
    );
    const batch = await srv.client.batchPredict({ requests: [{ features, inputs: new Map(), id: '' }] });
    t.is(batch.responses[0]?.status?.code, grpc.status.INVALID_ARGUMENT);
    t.regex(batch.responses[0]?.status?.message ?? '', /^requests\[0\]\.features\.feature_5: .* is out of range/);
  }
  // The largest float32 itself is fine.
  const edge = blueprintFeatures(BLUEPRINT_ROW);
  edge.set('feature_5', 3.4028234663852886e38);
  checkDemoAnswer(await srv.client.predict({ features: edge }), 'max float32');
  // The blueprint's REST route goes through the same check.
  const rest = await fetch(`${srv.http}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ features: { ...Object.fromEntries(blueprintFeatures(BLUEPRINT_ROW)), feature_5: 1e308 } }),
  });
  t.is(rest.status, 400);
  t.regex(((await rest.json()) as { message: string }).message, /^features\.feature_5: 1e\+308 is out of range/);
});

test.serial('regression: fromBytes reads an unaligned Buffer view correctly (Buffer#slice is a view, not a copy)', (t) => {
  const values = Float32Array.from([1.5, -2.25, 3.125]);
  const backing = Buffer.alloc(values.byteLength + 1);
  Buffer.from(values.buffer).copy(backing, 1);
  const view = backing.subarray(1);
  t.deepEqual(Array.from(fromBytes('float32', view) as Float32Array), [1.5, -2.25, 3.125]);
  const ints = BigInt64Array.from([1n, -2n]);
  const b2 = Buffer.alloc(19);
  Buffer.from(ints.buffer).copy(b2, 3);
  t.deepEqual(Array.from(fromBytes('int64', b2.subarray(3, 19)) as BigInt64Array), [1n, -2n]);
});

test.serial('after every property the server still says SERVING and answers a normal Predict', async (t) => {
  const health = healthClient(srv.address);
  try {
    for (const service of ['', 'quiver.v1.PredictionService', 'inference.GRPCInferenceService'])
      t.is(await check(health, service), 'SERVING');
  } finally {
    health.close();
  }
  const res = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  t.is(res.prediction, 1);
  const err = await grpcError(srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW.slice(0, 9)) }));
  t.is(err.code, grpc.status.INVALID_ARGUMENT);
  t.regex(err.details, /^features: missing feature feature_9/);
  gc();
  const now = process.memoryUsage();
  const heapMb = (now.heapUsed - baseline.heapUsed) / 2 ** 20;
  const rssMb = (now.rss - baseline.rss) / 2 ** 20;
  t.log(`after the properties: heapUsed ${heapMb.toFixed(1)} MiB, rss ${rssMb.toFixed(1)} MiB over the baseline`);
  t.true(heapMb < 50, `heapUsed grew ${heapMb.toFixed(1)} MiB`);
  t.true(rssMb < 300, `rss grew ${rssMb.toFixed(1)} MiB`);
});
