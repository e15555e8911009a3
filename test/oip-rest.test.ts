/**
 * The OIP REST handlers called directly (no HTTP): every route, the JSON request and
 * response shapes, every error case, and parity with quiver.v1 Predict and OIP gRPC, both
 * in-process (oipHandlers) and through a remote server's OIP gRPC service (upstreamOipHandlers).
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { CallContext } from '../src/core/context.js';
import { internal, queueFull, unavailable } from '../src/core/errors.js';
import { GRPCInferenceServiceClient, type ModelInferResponse } from '../src/gen/inference/grpc_predict_v2.js';
import { buildOnnxModel } from '../src/onnx/builder.js';
import { oipHandlers, type OipHandlers } from '../src/handlers/oip.js';
import { handleOipRest, OIP_REST_ROUTES, oipRestError, type OipRestResult } from '../gateway/oip.js';
import { UpstreamError, upstreamOipHandlers } from '../gateway/oip-upstream.js';
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
import { type Running, startServer } from './helpers/server.js';

function int32Model(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'int32', dims: ['N', 2] }],
    outputs: [{ name: 'y', dtype: 'int32', dims: ['N', 2] }],
    initializers: [{ name: 'three', dtype: 'int32', dims: [1], values: [3] }],
    nodes: [{ opType: 'Mul', inputs: ['x', 'three'], outputs: ['y'] }],
  });
}

const dir = tmp();
let running: Running;
let local: OipHandlers;
let client: GRPCInferenceServiceClient;
let remote: OipHandlers;

test.before(async () => {
  const int32 = writeModel(dir, 'int32.onnx', int32Model());
  running = await startServer({
    models: [
      `production-model=${writeModel(dir, 'demo.onnx', demoModel())}`,
      `typed=${writeModel(dir, 'typed.onnx', typedModel())}`,
      `regressor=${writeModel(dir, 'reg.onnx', regressorModel())}`,
      `int32:1=${int32}`,
      `int32:3=${int32}`,
    ],
  });
  local = oipHandlers(running.server.core);
  client = new GRPCInferenceServiceClient(running.address, grpc.credentials.createInsecure());
  remote = upstreamOipHandlers(client);
});

test.after.always(async () => {
  client?.close();
  await running?.close();
});

const ctx = (): CallContext => new CallContext(Date.now() + 10_000);

async function rest(method: string, path: string, body?: unknown, backend: OipHandlers = local): Promise<OipRestResult> {
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const res = await handleOipRest(backend, method, path, text, ctx());
  if (res === null) throw new Error(`${method} ${path} is not an OIP route`);
  // What the gateway will send must survive JSON.
  return { ...res, body: JSON.parse(JSON.stringify(res.body)) as unknown };
}

const demoInput = (rows: unknown, shape = [Array.isArray(rows) ? rows.length : 1, 10]) => ({
  inputs: [{ name: 'features', shape, datatype: 'FP32', data: rows }],
});

test('health routes: live, ready, and not ready while the server is not serving', async (t) => {
  t.deepEqual(await rest('GET', '/v2/health/live'), { status: 200, body: { live: true } });
  t.deepEqual(await rest('GET', '/v2/health/ready'), { status: 200, body: { ready: true } });
  t.deepEqual(await rest('HEAD', '/v2/health/ready'), { status: 200, body: { ready: true } });
  const stopping = oipHandlers(running.server.core, { serving: () => false });
  t.deepEqual(await rest('GET', '/v2/health/ready', undefined, stopping), { status: 503, body: { ready: false } });
  t.deepEqual(await rest('GET', '/v2/models/typed/ready', undefined, stopping), { status: 503, body: { name: 'typed', ready: false } });
  t.deepEqual(await rest('GET', '/v2/health/live', undefined, stopping), { status: 200, body: { live: true } });
});

test('model ready routes, with and without a version; unknown models and versions are 404', async (t) => {
  t.deepEqual(await rest('GET', '/v2/models/production-model/ready'), { status: 200, body: { name: 'production-model', ready: true } });
  t.deepEqual(await rest('GET', '/v2/models/int32/versions/3/ready'), { status: 200, body: { name: 'int32', ready: true } });
  const unknown = await rest('GET', '/v2/models/nope/ready');
  t.is(unknown.status, 404);
  t.regex((unknown.body as { error: string }).error, /^model 'nope' is not served; available: /);
  const version = await rest('GET', '/v2/models/int32/versions/2/ready');
  t.is(version.status, 404);
  t.deepEqual(version.body, { error: "model 'int32' has no version '2'; available versions: 1, 3" });
});

test('server metadata and model metadata routes', async (t) => {
  const server = await rest('GET', '/v2');
  t.is(server.status, 200);
  t.like(server.body, { name: 'quiver', extensions: [] });
  t.regex((server.body as { version: string }).version, /^\d+\.\d+\.\d+/);
  t.deepEqual(await rest('GET', '/v2/models/production-model'), {
    status: 200,
    body: {
      name: 'production-model',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 10] }],
      outputs: [
        { name: 'label', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
    },
  });
  const v1 = await rest('GET', '/v2/models/int32/versions/1');
  t.is(v1.status, 200);
  t.like(v1.body, { name: 'int32', versions: ['1', '3'], inputs: [{ name: 'x', datatype: 'INT32', shape: [-1, 2] }] });
  t.is((await rest('GET', '/v2/models/nope')).status, 404);
  t.is((await rest('GET', '/v2/models/int32/versions/9')).status, 404);
});

test('infer: flat and nested data give the same answer, and the same numbers as quiver.v1 Predict', async (t) => {
  const flat = await rest('POST', '/v2/models/production-model/infer', {
    id: 'r1',
    ...demoInput([...BLUEPRINT_ROW, ...BLUEPRINT_ROW_2], [2, 10]),
  });
  const nested = await rest('POST', '/v2/models/production-model/versions/1/infer', {
    id: 'r1',
    ...demoInput([BLUEPRINT_ROW, BLUEPRINT_ROW_2]),
  });
  t.is(flat.status, 200);
  t.deepEqual(nested, flat);
  const body = flat.body as {
    model_name: string;
    model_version: string;
    id: string;
    outputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>;
  };
  t.is(body.model_name, 'production-model');
  t.is(body.model_version, '1');
  t.is(body.id, 'r1');
  t.deepEqual(
    body.outputs.map((o) => [o.name, o.datatype, o.shape]),
    [
      ['label', 'INT64', [2]],
      ['probabilities', 'FP32', [2, 2]],
    ],
  );
  for (const [i, row] of [BLUEPRINT_ROW, BLUEPRINT_ROW_2].entries()) {
    const predict = await running.client.predict({ features: blueprintFeatures(row) });
    t.deepEqual(body.outputs[1]!.data.slice(2 * i, 2 * i + 2), predict.probabilities);
    t.is(body.outputs[0]!.data[i], predict.prediction);
  }
  // No id in the request: none in the response.
  const anonymous = await rest('POST', '/v2/models/production-model/infer', demoInput([BLUEPRINT_ROW]));
  t.false('id' in (anonymous.body as object));
});

test('infer: REST in-process, REST through an upstream OIP gRPC server and OIP gRPC agree exactly', async (t) => {
  const req = demoInput([BLUEPRINT_ROW, BLUEPRINT_ROW_2]);
  const a = await rest('POST', '/v2/models/production-model/infer', req);
  const b = await rest('POST', '/v2/models/production-model/infer', req, remote);
  t.deepEqual(b, a);
  const grpcRes = await new Promise<ModelInferResponse>((resolve, reject) =>
    client.modelInfer(
      {
        modelName: 'production-model',
        modelVersion: '',
        id: '',
        parameters: new Map(),
        inputs: [
          {
            name: 'features',
            datatype: 'FP32',
            shape: [2, 10],
            parameters: new Map(),
            contents: {
              fp32Contents: [...BLUEPRINT_ROW, ...BLUEPRINT_ROW_2],
              boolContents: [],
              intContents: [],
              int64Contents: [],
              uintContents: [],
              uint64Contents: [],
              fp64Contents: [],
              bytesContents: [],
            },
          },
        ],
        outputs: [],
        rawInputContents: [],
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    ),
  );
  const probs = (a.body as { outputs: Array<{ data: number[] }> }).outputs[1]!.data;
  t.deepEqual(probs, grpcRes.outputs[1]!.contents!.fp32Contents);
  // Every read route agrees too.
  for (const path of [
    '/v2',
    '/v2/health/live',
    '/v2/health/ready',
    '/v2/models/typed',
    '/v2/models/int32/versions/3/ready',
    '/v2/models/nope',
  ]) {
    t.deepEqual(await rest('GET', path, undefined, remote), await rest('GET', path), path);
  }
  // An upstream error keeps its status.
  const bad = { inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP64', data: BLUEPRINT_ROW }] };
  t.deepEqual(
    await rest('POST', '/v2/models/production-model/infer', bad, remote),
    await rest('POST', '/v2/models/production-model/infer', bad),
  );
});

test('infer: INT64, BOOL, FP32 inputs with requested outputs in the order asked', async (t) => {
  const res = await rest('POST', '/v2/models/typed/infer', {
    inputs: [
      {
        name: 'ids',
        shape: [2, 3],
        datatype: 'INT64',
        data: [
          [1, 2, 3],
          [10, 20, 30],
        ],
      },
      { name: 'mask', shape: [2, 3], datatype: 'BOOL', data: [true, false, true, false, true, true] },
      { name: 'scale', shape: [2, 1], datatype: 'FP32', data: [[0.5], [2]], parameters: {} },
    ],
    outputs: [{ name: 'count' }, { name: 'total', parameters: { binary_data: true } }],
    parameters: { anything: 1 },
  });
  t.is(res.status, 200);
  t.deepEqual((res.body as { outputs: unknown[] }).outputs, [
    { name: 'count', datatype: 'INT32', shape: [2], data: [2, 2] },
    { name: 'total', datatype: 'INT64', shape: [2], data: [4, 50] },
  ]);
});

test('infer: INT32 and FP64', async (t) => {
  const i32 = await rest('POST', '/v2/models/int32/versions/3/infer', {
    inputs: [{ name: 'x', shape: [1, 2], datatype: 'INT32', data: [[4, -5]] }],
  });
  t.deepEqual((i32.body as { model_version: string; outputs: unknown[] }).outputs, [
    { name: 'y', datatype: 'INT32', shape: [1, 2], data: [12, -15] },
  ]);
  t.is((i32.body as { model_version: string }).model_version, '3');
  const f64 = await rest('POST', '/v2/models/regressor/infer', {
    inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP64', data: [0.1, 0.2] }],
  });
  t.deepEqual((f64.body as { outputs: unknown[] }).outputs, [{ name: 'y', datatype: 'FP64', shape: [1, 1], data: [2 * 0.1 - 0.2 + 0.5] }]);
});

const ROW = [BLUEPRINT_ROW];
const BAD: Array<[string, unknown, number, RegExp]> = [
  ['no body', undefined, 400, /^request body: required/],
  ['an empty body', '  ', 400, /^request body: required/],
  ['invalid JSON', '{"inputs": [', 400, /^request body: not valid JSON/],
  ['a JSON array', '[]', 400, /^request body: must be a JSON object/],
  ['no inputs', { outputs: [] }, 400, /^inputs: required, a non-empty array/],
  ['inputs not an array', { inputs: {} }, 400, /^inputs: required/],
  ['an input that is not an object', { inputs: [3] }, 400, /^inputs\[0\]: must be a JSON object/],
  ['an input without a name', { inputs: [{ shape: [1, 10], datatype: 'FP32', data: ROW }] }, 400, /^inputs\[0\]\.name: required/],
  ['a non-string id', { id: 7, ...demoInput(ROW) }, 400, /^id: must be a string$/],
  ['parameters not an object', { parameters: [1], ...demoInput(ROW) }, 400, /^parameters: must be a JSON object/],
  ['no datatype', { inputs: [{ name: 'features', shape: [1, 10], data: ROW }] }, 400, /^inputs\[0\] \('features'\)\.datatype: required/],
  [
    'an unsupported datatype',
    { inputs: [{ name: 'features', shape: [1, 10], datatype: 'BYTES', data: ROW }] },
    400,
    /^inputs\[0\] \('features'\)\.datatype: BYTES is not supported by this server; supported: BOOL, INT32, INT64, FP32, FP64$/,
  ],
  [
    'an unknown datatype',
    { inputs: [{ name: 'features', shape: [1, 10], datatype: 'float', data: ROW }] },
    400,
    /^inputs\[0\] \('features'\)\.datatype: 'float' is not an Open Inference Protocol datatype/,
  ],
  ['no shape', { inputs: [{ name: 'features', datatype: 'FP32', data: ROW }] }, 400, /^inputs\[0\] \('features'\)\.shape: required/],
  ['a fractional dimension', demoInput(ROW, [1.5, 10]), 400, /^inputs\[0\] \('features'\)\.shape\[0\]: 1\.5 is not a valid dimension/],
  [
    'a string dimension',
    demoInput(ROW, ['1' as unknown as number, 10]),
    400,
    /^inputs\[0\] \('features'\)\.shape\[0\]: "1" is not a valid dimension/,
  ],
  ['a shape whose product overflows', demoInput(ROW, [2 ** 40, 2 ** 40]), 400, /^inputs\[0\] \('features'\)\.shape: .* declares more than/],
  ['no data', { inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP32' }] }, 400, /^inputs\[0\] \('features'\)\.data: required/],
  [
    'binary tensor data',
    { inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP32', parameters: { binary_data_size: 40 } }] },
    400,
    /binary tensor data \(binary_data_size\) is not supported/,
  ],
  [
    'data nested 100k deep',
    `{"inputs": [{"name": "features", "shape": [1, 10], "datatype": "FP32", "data": ${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`,
    400,
    // Refused by the depth scan before the body is parsed (maxJsonDepth, 64 by default).
    /^request body: JSON nested deeper than 64 levels; flatten it \(maxJsonDepth\)$/,
  ],
  [
    'shape x datatype != data length',
    demoInput(ROW, [2, 10]),
    400,
    /^inputs\[0\] \('features'\)\.data: 10 elements, but shape \[2, 10\] of FP32 needs 20$/,
  ],
  [
    'ragged nested arrays',
    demoInput([BLUEPRINT_ROW, BLUEPRINT_ROW.slice(1)], [2, 10]),
    400,
    /^inputs\[0\] \('features'\)\.data: ragged nested arrays: at depth 1, element 1 has 9 items, expected 10$/,
  ],
  [
    'arrays mixed with numbers',
    demoInput([BLUEPRINT_ROW, 3], [2, 10]),
    400,
    /^inputs\[0\] \('features'\)\.data: ragged nested arrays: at depth 1, element 1 is not an array/,
  ],
  [
    'numbers mixed with arrays',
    demoInput([1, [2]], [1, 10]),
    400,
    /^inputs\[0\] \('features'\)\.data: ragged nested arrays: element 1 of the innermost level is an array/,
  ],
  [
    'a string element',
    demoInput([['x', ...BLUEPRINT_ROW.slice(1)]]),
    400,
    /^inputs\[0\] \('features'\)\.data\[0\]: "x" is not a number \(FP32\)$/,
  ],
  [
    'a fractional INT64',
    { inputs: [{ name: 'x', shape: [1, 2], datatype: 'INT64', data: [1, 2.5] }] },
    400,
    /^inputs\[0\] \('x'\)\.data\[1\]: 2\.5 is not an INT64 integer/,
  ],
  [
    'an INT32 out of range',
    { inputs: [{ name: 'x', shape: [1, 2], datatype: 'INT32', data: [1, 2 ** 31] }] },
    400,
    /^inputs\[0\] \('x'\)\.data\[1\]: 2147483648 is not an INT32 integer$/,
  ],
  [
    'a BOOL given as 1',
    { inputs: [{ name: 'x', shape: [1], datatype: 'BOOL', data: [1] }] },
    400,
    /^inputs\[0\] \('x'\)\.data\[0\]: 1 is not true or false \(BOOL\)$/,
  ],
  [
    'a datatype the model does not take',
    { inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP64', data: ROW }] },
    400,
    /^inputs\.features: datatype FP64 does not match the model's FP32$/,
  ],
  ['an unknown input', { inputs: [{ name: 'other', shape: [1], datatype: 'FP32', data: [1] }] }, 400, /^inputs: unknown input 'other'/],
  [
    'an input given twice',
    { inputs: [...demoInput(ROW).inputs, ...demoInput(ROW).inputs] },
    400,
    /^inputs\[1\]\.name: input 'features' is given more than once$/,
  ],
  [
    'an unknown requested output',
    { ...demoInput(ROW), outputs: [{ name: 'logits' }] },
    400,
    /^outputs\[0\]\.name: unknown output 'logits'/,
  ],
  ['a requested output without a name', { ...demoInput(ROW), outputs: [{}] }, 400, /^outputs\[0\]\.name: required/],
  ['outputs not an array', { ...demoInput(ROW), outputs: 'label' }, 400, /^outputs: must be an array/],
  ['a wrong row width', demoInput([[1, 2, 3]], [1, 3]), 400, /^inputs\.features: shape \[1, 3\] does not match the model's \[-1, 10\]$/],
];

for (const [what, body, status, message] of BAD) {
  test(`infer rejects ${what} with ${status}`, async (t) => {
    const res = await rest('POST', '/v2/models/production-model/infer', body);
    t.is(res.status, status);
    t.deepEqual(Object.keys(res.body as object), ['error']);
    t.regex((res.body as { error: string }).error, message);
  });
}

test('infer on the missing input of a multi-input model names it', async (t) => {
  const res = await rest('POST', '/v2/models/typed/infer', {
    inputs: [
      { name: 'ids', shape: [1, 3], datatype: 'INT64', data: [1, 2, 3] },
      { name: 'scale', shape: [1, 1], datatype: 'FP32', data: [1] },
    ],
  });
  t.deepEqual(res, { status: 400, body: { error: "inputs: missing input 'mask' (BOOL [-1, 3])" } });
});

test('infer on an unknown model or version is 404', async (t) => {
  const model = await rest('POST', '/v2/models/nope/infer', demoInput(ROW));
  t.is(model.status, 404);
  t.regex((model.body as { error: string }).error, /^model 'nope' is not served/);
  const version = await rest('POST', '/v2/models/production-model/versions/4/infer', demoInput(ROW));
  t.deepEqual(version, { status: 404, body: { error: "model 'production-model' has no version '4'; available versions: 1" } });
});

test('a cancelled request is 499 and an expired deadline 504', async (t) => {
  const body = JSON.stringify(demoInput(ROW));
  const cancelled = new CallContext(Date.now() + 10_000);
  cancelled.cancel();
  const a = await handleOipRest(local, 'POST', '/v2/models/production-model/infer', body, cancelled);
  t.is(a?.status, 499);
  const b = await handleOipRest(local, 'POST', '/v2/models/production-model/infer', body, new CallContext(Date.now() - 1));
  t.is(b?.status, 504);
  t.regex((b?.body as { error: string }).error, /deadline exceeded/);
});

test('errors map to the HTTP status of their code, with retry-after on 429', (t) => {
  t.deepEqual(oipRestError(queueFull('queue full', 1500)), { status: 429, body: { error: 'queue full' }, headers: { 'retry-after': '2' } });
  t.deepEqual(oipRestError(unavailable('going away')), { status: 503, body: { error: 'going away' } });
  // A cause stays in the log: the message names the request id instead.
  t.deepEqual(oipRestError(internal('boom', new Error('secret')), undefined, 'r-1'), {
    status: 500,
    body: { error: 'boom (request id r-1: see the server log)' },
  });
  t.deepEqual(oipRestError(new Error('secret detail'), undefined, 'r-2'), {
    status: 500,
    body: { error: 'internal error (request id r-2: see the server log)' },
  });
  t.deepEqual(oipRestError(new UpstreamError(grpc.status.UNAUTHENTICATED, 'who are you')), { status: 401, body: { error: 'who are you' } });
  t.deepEqual(oipRestError(new UpstreamError(grpc.status.UNAVAILABLE, 'no upstream')), { status: 503, body: { error: 'no upstream' } });
});

test('an unreachable upstream is 503', async (t) => {
  const dead = new GRPCInferenceServiceClient('127.0.0.1:1', grpc.credentials.createInsecure());
  try {
    const res = await handleOipRest(upstreamOipHandlers(dead), 'GET', '/v2/health/live', undefined, new CallContext(Date.now() + 2000));
    t.is(res?.status, 503);
  } finally {
    dead.close();
  }
});

test('routing: non-OIP paths are null, wrong methods are 405 with allow, bad encoding is 400', async (t) => {
  for (const path of [
    '/',
    '/v1/models/x',
    '/v2x',
    '/v2/',
    '/v2/health',
    '/v2/health/other',
    '/v2/models',
    '/v2/models/m/other',
    '/v2/models/m/versions',
    '/v2/models/m/versions/1/other',
    '/v2/models//ready',
    '/v2/models/m/versions/1/infer/more',
  ]) {
    t.is(await handleOipRest(local, 'GET', path, undefined, ctx()), null, path);
  }
  const post = await rest('POST', '/v2/health/live');
  t.deepEqual(post, {
    status: 405,
    body: { error: 'method POST is not allowed on /v2/health/live; use GET' },
    headers: { allow: 'GET, HEAD' },
  });
  const get = await rest('GET', '/v2/models/production-model/infer');
  t.is(get.status, 405);
  t.deepEqual(get.headers, { allow: 'POST' });
  t.is((await rest('DELETE', '/v2/models/production-model')).status, 405);
  t.is((await rest('GET', '/v2/models/%E0%A4%A/ready')).status, 400);
  // Percent-encoded names and a query string.
  t.is((await rest('GET', '/v2/models/production%2Dmodel/ready?x=1')).status, 200);
  // A bare InferenceCore is served too.
  t.deepEqual(await handleOipRest(running.server.core, 'GET', '/v2/health/ready', undefined, ctx()), {
    status: 200,
    body: { ready: true },
  });
});

test('the route table lists every route once', (t) => {
  t.is(OIP_REST_ROUTES.length, 9);
  t.is(new Set(OIP_REST_ROUTES.map((r) => `${r.method} ${r.path}`)).size, 9);
});
