/** inference.GRPCInferenceService (Open Inference Protocol v2) over a real server and a real grpc-js client. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import test from 'ava';

import {
  type InferParameter,
  type InferTensorContents,
  type ModelInferRequest,
  type ModelInferRequest_InferInputTensor,
  type ModelInferResponse,
} from '../src/gen/inference/grpc_predict_v2.js';
import { check, healthClient } from '../src/grpc/health-client.js';
import { buildOnnxModel } from '../src/onnx/builder.js';
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
import { Oip } from './helpers/oip.js';
import { grpcError, type Running, startServer } from './helpers/server.js';

/** y = 3 * x over INT32 [N, 2]. */
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
let oip: Oip;

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
  oip = new Oip(running.address);
});

test.after.always(async () => {
  oip?.close();
  await running?.close();
});

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

function input(name: string, datatype: string, shape: number[], c?: Partial<InferTensorContents>): ModelInferRequest_InferInputTensor {
  return { name, datatype, shape, parameters: new Map(), contents: c === undefined ? undefined : contents(c) };
}

const features = (rows: number[][]) => input('features', 'FP32', [rows.length, 10], { fp32Contents: rows.flat() });

const bytesOf = (a: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array): Buffer =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function output(res: ModelInferResponse, name: string) {
  const i = res.outputs.findIndex((o) => o.name === name);
  if (i < 0) throw new Error(`no output ${name}`);
  return { tensor: res.outputs[i]!, raw: res.rawOutputContents[i] };
}

/** The typed model's inputs for two rows, as typed contents or as raw bytes. */
const TYPED_ROWS = { ids: [1, 2, 3, 10, 20, 30], mask: [true, false, true, false, true, true], scale: [0.5, 2] };

test('ServerLive, ServerReady and ServerMetadata describe the server', async (t) => {
  t.deepEqual(await oip.live(), { live: true });
  t.deepEqual(await oip.ready(), { ready: true });
  const md = await oip.serverMetadata();
  t.is(md.name, 'quiver');
  t.regex(md.version, /^\d+\.\d+\.\d+/);
  t.deepEqual(md.extensions, []);
});

test('the OIP service is in grpc.health.v1 and answers SERVING', async (t) => {
  const health = healthClient(running.address);
  try {
    t.is(await check(health, 'inference.GRPCInferenceService'), 'SERVING');
  } finally {
    health.close();
  }
});

test('server reflection lists the OIP service and describes ModelInfer', async (t) => {
  const proto = new URL('../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url).pathname;
  type Reply = {
    list_services_response?: { service: Array<{ name: string }> };
    file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  };
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(proto, { keepCase: true })) as unknown as {
    grpc: {
      reflection: {
        v1: {
          ServerReflection: new (
            a: string,
            c: grpc.ChannelCredentials,
          ) => grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<object, Reply> };
        };
      };
    };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(running.address, grpc.credentials.createInsecure());
  try {
    const ask = (req: object) =>
      new Promise<Reply>((resolve, reject) => {
        const stream = client.ServerReflectionInfo();
        stream.on('data', (r: Reply) => {
          resolve(r);
          stream.end();
        });
        stream.on('error', reject);
        stream.write(req);
      });
    const names = (await ask({ list_services: '' })).list_services_response!.service.map((s) => s.name);
    t.true(names.includes('inference.GRPCInferenceService'), names.join(','));
    const files = (await ask({ file_containing_symbol: 'inference.GRPCInferenceService' })).file_descriptor_response!.file_descriptor_proto;
    t.true(files.some((f) => f.toString('latin1').includes('ModelInfer')));
  } finally {
    client.close();
  }
});

test('ModelReady: true for served models and versions, NOT_FOUND for unknown ones, INVALID_ARGUMENT without a name', async (t) => {
  t.deepEqual(await oip.modelReady('production-model'), { ready: true });
  t.deepEqual(await oip.modelReady('int32', '3'), { ready: true });
  const unknown = await grpcError(oip.modelReady('nope'));
  t.is(unknown.code, grpc.status.NOT_FOUND);
  t.regex(unknown.details, /model 'nope' is not served/);
  const version = await grpcError(oip.modelReady('int32', '2'));
  t.is(version.code, grpc.status.NOT_FOUND);
  t.regex(version.details, /no version '2'/);
  const empty = await grpcError(oip.modelReady(''));
  t.is(empty.code, grpc.status.INVALID_ARGUMENT);
  t.regex(empty.details, /^name: required/);
});

test('ModelMetadata lists versions, platform and the signature in OIP datatypes', async (t) => {
  const demo = await oip.modelMetadata('production-model');
  t.deepEqual(demo, {
    name: 'production-model',
    versions: ['1'],
    platform: 'onnxruntime_onnx',
    inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 10] }],
    outputs: [
      { name: 'label', datatype: 'INT64', shape: [-1] },
      { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
    ],
  });
  const typed = await oip.modelMetadata('typed');
  t.deepEqual(
    typed.inputs.map((i) => [i.name, i.datatype, i.shape]),
    [
      ['ids', 'INT64', [-1, 3]],
      ['mask', 'BOOL', [-1, 3]],
      ['scale', 'FP32', [-1, 1]],
    ],
  );
  t.deepEqual(
    typed.outputs.map((o) => [o.name, o.datatype]),
    [
      ['total', 'INT64'],
      ['scaled', 'FP32'],
      ['count', 'INT32'],
    ],
  );
  const int32 = await oip.modelMetadata('int32', '1');
  t.deepEqual(int32.versions, ['1', '3']);
  t.is((await oip.modelMetadata('regressor')).inputs[0]!.datatype, 'FP64');
  t.is((await grpcError(oip.modelMetadata('nope'))).code, grpc.status.NOT_FOUND);
  t.is((await grpcError(oip.modelMetadata('int32', '7'))).code, grpc.status.NOT_FOUND);
  t.is((await grpcError(oip.modelMetadata(''))).code, grpc.status.INVALID_ARGUMENT);
});

test('ModelInfer gives exactly the numbers quiver.v1 Predict gives for the same input (typed contents)', async (t) => {
  for (const row of [BLUEPRINT_ROW, BLUEPRINT_ROW_2]) {
    const predict = await running.client.predict({ features: blueprintFeatures(row) });
    const res = await oip.infer({ inputs: [features([row])], id: 'parity' });
    t.is(res.modelName, 'production-model');
    t.is(res.modelVersion, '1');
    t.is(res.id, 'parity');
    t.deepEqual(res.rawOutputContents, []);
    const probs = output(res, 'probabilities').tensor;
    t.is(probs.datatype, 'FP32');
    t.deepEqual(probs.shape, [1, 2]);
    t.deepEqual(probs.contents?.fp32Contents, predict.outputs.get('probabilities')!.fp32Data);
    t.deepEqual(probs.contents?.fp32Contents, predict.probabilities);
    const label = output(res, 'label').tensor;
    t.is(label.datatype, 'INT64');
    t.deepEqual(label.contents?.int64Contents, [predict.prediction]);
  }
});

test('ModelInfer with raw_input_contents (FP32) answers in raw_output_contents, bit-identical to Predict', async (t) => {
  const rows = [BLUEPRINT_ROW, BLUEPRINT_ROW_2];
  const res = await oip.infer({ inputs: [input('features', 'FP32', [2, 10])], rawInputContents: [bytesOf(new Float32Array(rows.flat()))] });
  t.is(res.rawOutputContents.length, res.outputs.length);
  for (const o of res.outputs) t.is(o.contents, undefined);
  const probsRaw = output(res, 'probabilities').raw!;
  const probs = new Float32Array(probsRaw.buffer.slice(probsRaw.byteOffset, probsRaw.byteOffset + probsRaw.byteLength));
  const label = output(res, 'label').raw!;
  t.is(label.length, 16);
  for (const [i, row] of rows.entries()) {
    const predict = await running.client.predict({ features: blueprintFeatures(row) });
    t.deepEqual(Array.from(probs.subarray(2 * i, 2 * i + 2)), predict.probabilities);
    t.is(Number(label.readBigInt64LE(8 * i)), predict.prediction);
  }
});

test('ModelInfer with typed contents for INT64, BOOL and FP32 inputs, and INT64/FP32/INT32 outputs', async (t) => {
  const res = await oip.infer({
    modelName: 'typed',
    inputs: [
      input('ids', 'INT64', [2, 3], { int64Contents: TYPED_ROWS.ids }),
      input('mask', 'BOOL', [2, 3], { boolContents: TYPED_ROWS.mask }),
      input('scale', 'FP32', [2, 1], { fp32Contents: TYPED_ROWS.scale }),
    ],
  });
  t.deepEqual(
    res.outputs.map((o) => [o.name, o.datatype, o.shape]),
    [
      ['total', 'INT64', [2]],
      ['scaled', 'FP32', [2, 1]],
      ['count', 'INT32', [2]],
    ],
  );
  t.deepEqual(output(res, 'total').tensor.contents?.int64Contents, [4, 50]);
  t.deepEqual(output(res, 'scaled').tensor.contents?.fp32Contents, [2, 100]);
  t.deepEqual(output(res, 'count').tensor.contents?.intContents, [2, 2]);
});

test('ModelInfer with raw_input_contents for INT64, BOOL and FP32 matches the typed form', async (t) => {
  const res = await oip.infer({
    modelName: 'typed',
    inputs: [input('ids', 'INT64', [2, 3]), input('mask', 'BOOL', [2, 3]), input('scale', 'FP32', [2, 1])],
    rawInputContents: [
      bytesOf(BigInt64Array.from(TYPED_ROWS.ids, BigInt)),
      // Any non-zero byte is true.
      bytesOf(Uint8Array.from(TYPED_ROWS.mask, (b) => (b ? 7 : 0))),
      bytesOf(Float32Array.from(TYPED_ROWS.scale)),
    ],
  });
  const total = output(res, 'total').raw!;
  t.deepEqual([total.readBigInt64LE(0), total.readBigInt64LE(8)], [4n, 50n]);
  const scaled = output(res, 'scaled').raw!;
  t.deepEqual([scaled.readFloatLE(0), scaled.readFloatLE(4)], [2, 100]);
  const count = output(res, 'count').raw!;
  t.deepEqual([count.readInt32LE(0), count.readInt32LE(4)], [2, 2]);
});

test('ModelInfer with INT32 and FP64, typed and raw', async (t) => {
  const typed = await oip.infer({
    modelName: 'int32',
    modelVersion: '3',
    inputs: [input('x', 'INT32', [2, 2], { intContents: [1, -2, 3, 2 ** 30] })],
  });
  t.is(typed.modelVersion, '3');
  t.deepEqual(output(typed, 'y').tensor.contents?.intContents, [3, -6, 9, (3 * 2 ** 30) | 0]);
  const raw = await oip.infer({
    modelName: 'int32',
    inputs: [input('x', 'INT32', [1, 2])],
    rawInputContents: [bytesOf(Int32Array.from([5, -7]))],
  });
  const y = output(raw, 'y').raw!;
  t.deepEqual([y.readInt32LE(0), y.readInt32LE(4)], [15, -21]);

  const reg = await oip.infer({ modelName: 'regressor', inputs: [input('x', 'FP64', [2, 2], { fp64Contents: [1, 2, 0.1, 0.2] })] });
  t.deepEqual(output(reg, 'y').tensor.contents?.fp64Contents, [2 * 1 - 2 + 0.5, 2 * 0.1 - 0.2 + 0.5]);
  const regRaw = await oip.infer({
    modelName: 'regressor',
    inputs: [input('x', 'FP64', [1, 2])],
    rawInputContents: [bytesOf(Float64Array.from([0.1, 0.2]))],
  });
  t.is(output(regRaw, 'y').raw!.readDoubleLE(0), 2 * 0.1 - 0.2 + 0.5);
});

test('requested outputs: only those, in the order asked; binary_data and binary_data_output choose raw outputs', async (t) => {
  const param = (v: boolean): InferParameter => ({ boolParam: v });
  const only = await oip.infer({ inputs: [features([BLUEPRINT_ROW])], outputs: [{ name: 'probabilities', parameters: new Map() }] });
  t.deepEqual(
    only.outputs.map((o) => o.name),
    ['probabilities'],
  );
  const both = await oip.infer({
    inputs: [features([BLUEPRINT_ROW])],
    outputs: [
      { name: 'probabilities', parameters: new Map() },
      { name: 'label', parameters: new Map() },
    ],
  });
  t.deepEqual(
    both.outputs.map((o) => o.name),
    ['probabilities', 'label'],
  );
  const binary = await oip.infer({
    inputs: [features([BLUEPRINT_ROW])],
    outputs: [{ name: 'label', parameters: new Map([['binary_data', param(true)]]) }],
  });
  t.is(binary.rawOutputContents.length, 1);
  t.is(binary.outputs[0]!.contents, undefined);
  // Raw inputs, but the request asks for typed outputs.
  const typedOut = await oip.infer({
    inputs: [input('features', 'FP32', [1, 10])],
    rawInputContents: [bytesOf(Float32Array.from(BLUEPRINT_ROW))],
    parameters: new Map([['binary_data_output', param(false)]]),
  });
  t.deepEqual(typedOut.rawOutputContents, []);
  t.deepEqual(output(typedOut, 'probabilities').tensor.contents?.fp32Contents, output(both, 'probabilities').tensor.contents?.fp32Contents);

  const unknown = await grpcError(oip.infer({ inputs: [features([BLUEPRINT_ROW])], outputs: [{ name: 'logits', parameters: new Map() }] }));
  t.is(unknown.code, grpc.status.INVALID_ARGUMENT);
  t.is(unknown.details, "outputs[0].name: unknown output 'logits'; the model's outputs are 'label', 'probabilities'");
  const twice = await grpcError(
    oip.infer({
      inputs: [features([BLUEPRINT_ROW])],
      outputs: [
        { name: 'label', parameters: new Map() },
        { name: 'label', parameters: new Map() },
      ],
    }),
  );
  t.regex(twice.details, /^outputs\[1\]\.name: output 'label' is requested more than once/);
});

/** [request, code, message pattern] for every bad request. */
const BAD: Array<[string, Partial<ModelInferRequest>, grpc.status, RegExp]> = [
  [
    'an unsupported datatype',
    { inputs: [input('features', 'UINT8', [1, 10], { uintContents: BLUEPRINT_ROW.map(() => 1) })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[0\] \('features'\)\.datatype: UINT8 is not supported by this server; supported: BOOL, INT32, INT64, FP32, FP64$/,
  ],
  [
    'an unknown datatype',
    { inputs: [input('features', 'FLOAT32', [1, 10], { fp32Contents: BLUEPRINT_ROW })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[0\] \('features'\)\.datatype: 'FLOAT32' is not an Open Inference Protocol datatype/,
  ],
  [
    'shape x datatype != data length (typed)',
    { inputs: [input('features', 'FP32', [2, 10], { fp32Contents: BLUEPRINT_ROW })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[0\] \('features'\)\.contents\.fp32_contents: 10 elements, but shape \[2, 10\] of FP32 needs 20$/,
  ],
  [
    'shape x datatype != data length (raw)',
    { inputs: [input('features', 'FP32', [1, 10])], rawInputContents: [Buffer.alloc(36)] },
    grpc.status.INVALID_ARGUMENT,
    /^raw_input_contents\[0\] \(input 'features'\): 36 bytes, but shape \[1, 10\] of FP32 needs 40$/,
  ],
  [
    'contents of another datatype',
    { inputs: [input('features', 'FP32', [1, 10], { fp64Contents: BLUEPRINT_ROW })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[0\] \('features'\)\.contents\.fp64_contents: given for a FP32 tensor; use fp32_contents/,
  ],
  [
    'a negative dimension',
    { inputs: [input('features', 'FP32', [-1, 10], { fp32Contents: BLUEPRINT_ROW })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[0\] \('features'\)\.shape\[0\]: -1 is not a valid dimension/,
  ],
  [
    'a shape whose product overflows',
    { inputs: [input('features', 'FP32', [2 ** 40, 2 ** 40], { fp32Contents: BLUEPRINT_ROW })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[0\] \('features'\)\.shape: .* declares more than/,
  ],
  [
    'a missing input',
    {
      modelName: 'typed',
      inputs: [input('ids', 'INT64', [1, 3], { int64Contents: [1, 2, 3] }), input('scale', 'FP32', [1, 1], { fp32Contents: [1] })],
    },
    grpc.status.INVALID_ARGUMENT,
    /^inputs: missing input 'mask' \(BOOL \[-1, 3\]\)$/,
  ],
  [
    'an unknown input',
    { inputs: [features([BLUEPRINT_ROW]), input('extra', 'FP32', [1], { fp32Contents: [1] })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs: unknown input 'extra'/,
  ],
  [
    'an input given twice',
    { inputs: [features([BLUEPRINT_ROW]), features([BLUEPRINT_ROW])] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[1\]\.name: input 'features' is given more than once$/,
  ],
  [
    'a datatype the model does not take',
    { inputs: [input('features', 'FP64', [1, 10], { fp64Contents: BLUEPRINT_ROW })] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\.features: datatype FP64 does not match the model's FP32$/,
  ],
  [
    'both contents and raw_input_contents',
    { inputs: [features([BLUEPRINT_ROW])], rawInputContents: [bytesOf(Float32Array.from(BLUEPRINT_ROW))] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\[0\] \('features'\)\.contents: must be empty when raw contents are used/,
  ],
  [
    'raw_input_contents count != inputs count',
    {
      modelName: 'typed',
      inputs: [input('ids', 'INT64', [1, 3]), input('mask', 'BOOL', [1, 3]), input('scale', 'FP32', [1, 1])],
      rawInputContents: [Buffer.alloc(24), Buffer.alloc(3)],
    },
    grpc.status.INVALID_ARGUMENT,
    /^raw_input_contents: 2 entries, but the request has 3 inputs/,
  ],
  [
    'an unknown model',
    { modelName: 'nope', inputs: [features([BLUEPRINT_ROW])] },
    grpc.status.NOT_FOUND,
    /^model 'nope' is not served; available: /,
  ],
  [
    'an unknown version',
    { modelVersion: '9', inputs: [features([BLUEPRINT_ROW])] },
    grpc.status.NOT_FOUND,
    /^model 'production-model' has no version '9'; available versions: 1$/,
  ],
  ['no model name', { modelName: '', inputs: [features([BLUEPRINT_ROW])] }, grpc.status.INVALID_ARGUMENT, /^model_name: required$/],
  [
    'NaN input',
    { inputs: [features([[NaN, ...BLUEPRINT_ROW.slice(1)]])] },
    grpc.status.INVALID_ARGUMENT,
    /^inputs\.features: element 0 is NaN; only finite numbers are accepted$/,
  ],
];

for (const [what, req, code, message] of BAD) {
  test(`ModelInfer rejects ${what}`, async (t) => {
    const err = await grpcError(oip.infer(req));
    t.is(err.code, code, err.details);
    t.regex(err.details, message);
  });
}

test('undecodable request bytes are INVALID_ARGUMENT, and the server keeps serving', async (t) => {
  const bad = await new Promise<grpc.ServiceError>((resolve) =>
    oip.raw.makeUnaryRequest(
      '/inference.GRPCInferenceService/ModelInfer',
      (b: Buffer) => b,
      (b: Buffer) => b,
      // Field 7 (raw_input_contents), length-delimited, claiming 100 bytes that are not there.
      Buffer.from([0x3a, 100, 1, 2]),
      (err) => resolve(err as grpc.ServiceError),
    ),
  );
  t.is(bad.code, grpc.status.INVALID_ARGUMENT);
  t.regex(bad.details, /could not be decoded/);
  t.deepEqual(await oip.live(), { live: true });
});
