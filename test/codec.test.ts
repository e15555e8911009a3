import test from 'ava';
import fc from 'fast-check';

import type { HostTensor } from '../src/core/tensor.js';
import {
  BatchPredictRequest,
  BatchPredictResponse,
  PredictRequest,
  PredictResponse,
  PredictStreamRequest,
  PredictStreamResponse,
} from '../src/gen/quiver/v1/prediction.js';
import { DataType, type Tensor } from '../src/gen/quiver/v1/tensor.js';
import { decodeBatchPredictRequest, decodePredictRequest, decodePredictStreamRequest } from '../src/contract/codec.js';
import { encodeBatchPredictResponse, encodePredictResponse, encodePredictStreamResponse } from '../src/contract/encode.js';
import { invalidArgument } from '../src/core/errors.js';

const name = fc.string({ maxLength: 12 });
const tensor: fc.Arbitrary<Tensor> = fc.record({
  datatype: fc.constantFrom(...([1, 2, 3, 4, 5] as DataType[])),
  shape: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
  fp32Data: fc.array(fc.float({ noNaN: true }).map(Math.fround), { maxLength: 4 }),
  fp64Data: fc.array(fc.double({ noNaN: true }), { maxLength: 4 }),
  int32Data: fc.array(fc.integer(), { maxLength: 4 }),
  int64Data: fc.array(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), { maxLength: 4 }),
  boolData: fc.array(fc.boolean(), { maxLength: 4 }),
  rawData: fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u)),
});
const features = fc.array(fc.tuple(name, fc.double({ noNaN: true })), { maxLength: 12 }).map((e) => new Map(e));
const inputs = fc.array(fc.tuple(name, tensor), { maxLength: 3 }).map((e) => new Map(e));
const predictRequest = fc.record({ modelName: name, modelVersion: name, features, inputs, id: name });

const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x instanceof Map ? Object.fromEntries(x) : x)));

test('the hand-written request decoders read what the generated encoders write', (t) => {
  fc.assert(
    fc.property(predictRequest, (req) => {
      const bytes = PredictRequest.encode(req).finish();
      const ours = decodePredictRequest(Buffer.from(bytes));
      t.is(ours.duplicates, undefined);
      return JSON.stringify(plain(ours)) === JSON.stringify(plain(PredictRequest.decode(bytes)));
    }),
  );
  fc.assert(
    fc.property(
      fc.record({
        modelName: name,
        modelVersion: name,
        requests: fc.array(fc.record({ features, inputs, id: name }), { maxLength: 3 }),
        dense: fc.option(tensor, { nil: undefined }),
      }),
      (req) => {
        const bytes = BatchPredictRequest.encode(req).finish();
        return (
          JSON.stringify(plain(decodeBatchPredictRequest(Buffer.from(bytes)))) === JSON.stringify(plain(BatchPredictRequest.decode(bytes)))
        );
      },
    ),
  );
  fc.assert(
    fc.property(predictRequest, (req) => {
      const bytes = PredictStreamRequest.encode({ request: req }).finish();
      return (
        JSON.stringify(plain(decodePredictStreamRequest(Buffer.from(bytes)))) === JSON.stringify(plain(PredictStreamRequest.decode(bytes)))
      );
    }),
  );
});

test('random bytes never make the request decoders hang or crash the process (they throw or decode)', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      for (const decode of [decodePredictRequest, decodeBatchPredictRequest, decodePredictStreamRequest]) {
        try {
          decode(Buffer.from(bytes));
        } catch (err) {
          if (!(err instanceof Error)) return false;
        }
      }
      return true;
    }),
  );
  t.pass();
});

const hostTensor: fc.Arbitrary<HostTensor> = fc.oneof(
  fc
    .array(fc.float({ noNaN: true }), { maxLength: 6 })
    .map((v): HostTensor => ({ dtype: 'float32', dims: [v.length], data: Float32Array.from(v) })),
  fc
    .array(fc.double({ noNaN: true }), { maxLength: 6 })
    .map((v): HostTensor => ({ dtype: 'float64', dims: [1, v.length], data: Float64Array.from(v) })),
  fc.array(fc.integer(), { maxLength: 6 }).map((v): HostTensor => ({ dtype: 'int32', dims: [v.length], data: Int32Array.from(v) })),
  fc
    .array(fc.bigInt({ min: -(2n ** 50n), max: 2n ** 50n }), { maxLength: 6 })
    .map((v): HostTensor => ({ dtype: 'int64', dims: [v.length], data: BigInt64Array.from(v) })),
  fc.array(fc.boolean(), { maxLength: 6 }).map((v): HostTensor => ({ dtype: 'bool', dims: [v.length], data: Uint8Array.from(v, Number) })),
);

const result = fc.record({
  modelName: name,
  modelVersion: name,
  prediction: fc.double({ noNaN: true }),
  probability: fc.double({ noNaN: true }),
  probabilities: fc.array(fc.double({ noNaN: true }), { maxLength: 4 }),
  outputs: fc.array(fc.tuple(name, hostTensor), { maxLength: 3 }).map((e) => new Map(e)),
  id: name,
});

function expectedTensor(t: HostTensor, raw: boolean): Tensor {
  const base: Tensor = {
    datatype: { float32: 1, float64: 2, int32: 3, int64: 4, bool: 5 }[t.dtype] as DataType,
    shape: [...t.dims],
    fp32Data: [],
    fp64Data: [],
    int32Data: [],
    int64Data: [],
    boolData: [],
    rawData: Buffer.alloc(0),
  };
  if (raw) return { ...base, rawData: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  if (t.dtype === 'float32') base.fp32Data = Array.from(t.data as Float32Array);
  if (t.dtype === 'float64') base.fp64Data = Array.from(t.data as Float64Array);
  if (t.dtype === 'int32') base.int32Data = Array.from(t.data as Int32Array);
  if (t.dtype === 'int64') base.int64Data = Array.from(t.data as BigInt64Array, Number);
  if (t.dtype === 'bool') base.boolData = Array.from(t.data as Uint8Array, (v) => v !== 0);
  return base;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(plain(a)) === JSON.stringify(plain(b));

test('the hand-written response encoders write what the generated decoders read', (t) => {
  fc.assert(
    fc.property(result, (r) => {
      const decoded = PredictResponse.decode(encodePredictResponse(r));
      const outputs = new Map([...r.outputs].map(([k, v]) => [k, expectedTensor(v, false)]));
      return same(decoded, PredictResponse.fromPartial({ ...r, outputs }));
    }),
  );
  fc.assert(
    fc.property(
      fc.array(fc.option(result, { nil: undefined }), { maxLength: 3 }),
      fc.option(fc.tuple(fc.array(fc.tuple(name, hostTensor), { maxLength: 2 }), fc.boolean()), { nil: undefined }),
      (items, dense) => {
        const err = invalidArgument('bad item');
        const wire = {
          modelName: 'm',
          modelVersion: '2',
          items: items.map((r) => (r === undefined ? { ok: false, error: err } : { ok: true, result: r })),
          ...(dense === undefined ? {} : { dense: { outputs: new Map(dense[0]), raw: dense[1] } }),
        };
        const decoded = BatchPredictResponse.decode(encodeBatchPredictResponse(wire));
        const expected = BatchPredictResponse.fromPartial({
          modelName: 'm',
          modelVersion: '2',
          responses: items.map((r) =>
            r === undefined
              ? { status: { code: 3, message: 'bad item' } }
              : {
                  status: { code: 0, message: '' },
                  result: { ...r, outputs: new Map([...r.outputs].map(([k, v]) => [k, expectedTensor(v, false)])) },
                },
          ),
          denseOutputs: dense === undefined ? new Map() : new Map(dense[0].map(([k, v]) => [k, expectedTensor(v, dense[1])])),
        });
        return same(decoded, expected);
      },
    ),
  );
  const streamed = PredictStreamResponse.decode(encodePredictStreamResponse({ error: invalidArgument('nope'), id: 'x' }));
  t.deepEqual(plain(streamed), plain(PredictStreamResponse.fromPartial({ status: { code: 3, message: 'nope' }, id: 'x' })));
});
