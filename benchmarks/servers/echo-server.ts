/**
 * Baseline (b): the transport ceiling. A grpc-js server with Quiver's own Predict request and
 * response messages (generated codecs), answering every call with a fixed response shaped
 * like Quiver's, without any inference.
 */
import * as grpc from '@grpc/grpc-js';

import {
  type BatchPredictRequest,
  type BatchPredictResponse,
  PredictionServiceService,
  type PredictRequest,
  type PredictResponse,
} from '../../src/gen/quiver/v1/prediction.js';
import { DataType } from '../../src/gen/quiver/v1/tensor.js';

const port = Number(process.argv[2] ?? 50061);

const tensor = (datatype: DataType, shape: number[], fp32: number[], int64: number[], raw = Buffer.alloc(0)) => ({
  datatype,
  shape,
  fp32Data: fp32,
  fp64Data: [],
  int32Data: [],
  int64Data: int64,
  boolData: [],
  rawData: raw,
});

/** The dense answer: the same outputs, sizes and encoding as Quiver's (raw_data). */
function respondBatch(req: BatchPredictRequest): BatchPredictResponse {
  const rows = req.dense?.shape[0] ?? 0;
  return {
    modelName: req.modelName,
    modelVersion: '1',
    responses: [],
    denseOutputs: new Map([
      ['label', tensor(DataType.DATA_TYPE_INT64, [rows], [], [], Buffer.alloc(rows * 8))],
      ['probabilities', tensor(DataType.DATA_TYPE_FP32, [rows, 2], [], [], Buffer.alloc(rows * 8))],
    ]),
  };
}

function respond(req: PredictRequest): PredictResponse {
  return {
    modelName: req.modelName,
    modelVersion: '1',
    prediction: 1,
    probability: 0.9,
    probabilities: [0.1, 0.9],
    outputs: new Map([
      ['label', tensor(DataType.DATA_TYPE_INT64, [1], [], [1])],
      ['probabilities', tensor(DataType.DATA_TYPE_FP32, [1, 2], [0.1, 0.9], [])],
    ]),
    id: req.id,
  };
}

const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1000 });
server.addService(PredictionServiceService, {
  predict: (call: grpc.ServerUnaryCall<PredictRequest, PredictResponse>, cb: grpc.sendUnaryData<PredictResponse>) =>
    cb(null, respond(call.request)),
  batchPredict: (call: grpc.ServerUnaryCall<BatchPredictRequest, BatchPredictResponse>, cb: grpc.sendUnaryData<BatchPredictResponse>) =>
    cb(null, respondBatch(call.request)),
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
  if (err) throw err;
  process.stdout.write(`listening ${p}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
