/**
 * Baseline (b): the transport ceiling. A grpc-js server with Quiver's own service definition
 * and codecs (src/contract/services.ts: the hand-written request decoders and response
 * encoders Quiver's server uses), answering every call with a constant answer of the real
 * shape: the demo model's outputs and an id, encoded per call as Quiver encodes them. No validation, no
 * queue, no inference: the cheapest honest echo of the contract.
 */
import * as grpc from '@grpc/grpc-js';

import { type DecodedBatchPredictRequest, type DecodedPredictRequest, ensureDecoded } from '../../src/contract/codec.js';
import type { BatchWire } from '../../src/contract/encode.js';
import { predictionServiceDefinition } from '../../src/contract/services.js';
import type { PredictResult } from '../../src/core/inference.js';
import { newPredictionId } from '../../src/core/request-id.js';
import type { HostTensor } from '../../src/core/tensor.js';

const port = Number(process.argv[2] ?? 50061);

/** The demo model's answer for one row: label 1, probabilities [0.1, 0.9]. */
const OUTPUTS: ReadonlyMap<string, HostTensor> = new Map<string, HostTensor>([
  ['label', { dtype: 'int64', dims: [1], data: BigInt64Array.of(1n) }],
  ['probabilities', { dtype: 'float32', dims: [1, 2], data: Float32Array.of(0.1, 0.9) }],
]);

const answer = (req: DecodedPredictRequest): PredictResult => ({
  modelName: req.modelName,
  modelVersion: '1',
  prediction: 1,
  probability: 0.9,
  probabilities: [0.1, 0.9],
  outputs: OUTPUTS,
  // The contract's answer carries the caller's id, or one generated for it (as Quiver does).
  id: req.id === '' ? newPredictionId() : req.id,
});

/** The dense answer: outputs of the request's row count, written raw as Quiver writes them. */
function denseAnswer(req: DecodedBatchPredictRequest): BatchWire {
  const rows = Number(req.dense?.shape[0] ?? 0);
  return {
    modelName: req.modelName,
    modelVersion: '1',
    dense: {
      raw: true,
      outputs: new Map<string, HostTensor>([
        ['label', { dtype: 'int64', dims: [rows], data: new BigInt64Array(rows) }],
        ['probabilities', { dtype: 'float32', dims: [rows, 2], data: new Float32Array(rows * 2) }],
      ]),
    },
  };
}

const server = new grpc.Server({ 'grpc.max_concurrent_streams': 1000 });
// Methods not given here answer UNIMPLEMENTED (grpc-js's default).
server.addService(predictionServiceDefinition(), {
  predict: (call: grpc.ServerUnaryCall<unknown, PredictResult>, cb: grpc.sendUnaryData<PredictResult>) =>
    cb(null, answer(ensureDecoded(call.request as DecodedPredictRequest))),
  batchPredict: (call: grpc.ServerUnaryCall<unknown, BatchWire>, cb: grpc.sendUnaryData<BatchWire>) =>
    cb(null, denseAnswer(ensureDecoded(call.request as DecodedBatchPredictRequest))),
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
  if (err) throw err;
  process.stdout.write(`listening ${p}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
