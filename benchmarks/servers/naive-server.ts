/**
 * Baseline (b2): what a user would write instead of Quiver. A grpc-js server with the same
 * contract that runs onnxruntime inline, one request at a time, on its main thread.
 */
import * as grpc from '@grpc/grpc-js';
import ort from 'onnxruntime-node';

import { PredictionServiceService, type PredictRequest, type PredictResponse } from '../../src/gen/quiver/v1/prediction.js';
import { DataType } from '../../src/gen/quiver/v1/tensor.js';

const port = Number(process.argv[2] ?? 50062);
const modelPath = process.argv[3] as string;
const FEATURES = Array.from({ length: 10 }, (_, i) => `feature_${i}`);

const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });

const tensor = (datatype: DataType, shape: number[], fp32: number[], int64: number[]) => ({
  datatype,
  shape,
  fp32Data: fp32,
  fp64Data: [],
  int32Data: [],
  int64Data: int64,
  boolData: [],
  rawData: Buffer.alloc(0),
});

async function predict(req: PredictRequest): Promise<PredictResponse> {
  const x = new Float32Array(FEATURES.length);
  FEATURES.forEach((name, i) => {
    const v = req.features.get(name);
    if (v === undefined) throw Object.assign(new Error(`missing ${name}`), { code: grpc.status.INVALID_ARGUMENT });
    x[i] = v;
  });
  const out = await session.run({ features: new ort.Tensor('float32', x, [1, FEATURES.length]) });
  const p = Array.from(out.probabilities!.data as Float32Array);
  const label = Number((out.label!.data as BigInt64Array)[0]);
  return {
    modelName: req.modelName,
    modelVersion: '1',
    prediction: label,
    probability: Math.max(...p),
    probabilities: p,
    outputs: new Map([
      ['label', tensor(DataType.DATA_TYPE_INT64, [1], [], [label])],
      ['probabilities', tensor(DataType.DATA_TYPE_FP32, [1, 2], p, [])],
    ]),
    id: req.id,
  };
}

const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1000 });
server.addService(PredictionServiceService, {
  predict: (call: grpc.ServerUnaryCall<PredictRequest, PredictResponse>, cb: grpc.sendUnaryData<PredictResponse>) => {
    predict(call.request).then(
      (res) => cb(null, res),
      (err: Error & { code?: number }) => cb({ code: err.code ?? grpc.status.INTERNAL, details: err.message }),
    );
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
  if (err) throw err;
  process.stdout.write(`listening ${p}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
