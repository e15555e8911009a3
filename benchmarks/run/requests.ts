/**
 * The calls every row makes: Predict with one row of the demo model's ten features, and
 * BatchPredict with BATCH_ROWS and BIG_BATCH_ROWS dense rows, as gRPC frames; the same row as
 * REST JSON.
 */
import { BatchPredictRequest, PredictRequest } from '../../src/gen/quiver/v1/prediction.js';
import { DataType } from '../../src/gen/quiver/v1/tensor.js';
import { grpcFrame } from '../lib/h2load.js';
import { BATCH_ROWS, BIG_BATCH_ROWS, FEATURES } from './options.js';

export const PREDICT_PATH = '/quiver.v1.PredictionService/Predict';
export const BATCH_PATH = '/quiver.v1.PredictionService/BatchPredict';

/** The one row Predict and REST send. */
export const row = Array.from({ length: FEATURES }, (_, i) => Math.round(Math.sin(i + 1) * 1000) / 1000);

export const predictBody = grpcFrame(
  PredictRequest.encode({
    modelName: 'production-model',
    modelVersion: '',
    features: new Map(row.map((v, i) => [`feature_${i}`, v])),
    inputs: new Map(),
    id: '',
  }).finish(),
);

/** A dense BatchPredict call of `rows` rows (deterministic values). */
function denseBatchBody(rows: number): Buffer {
  const dense = new Float32Array(rows * FEATURES).map((_, i) => Math.sin(i));
  return grpcFrame(
    BatchPredictRequest.encode({
      modelName: 'production-model',
      modelVersion: '',
      requests: [],
      dense: {
        datatype: DataType.DATA_TYPE_FP32,
        shape: [rows, FEATURES],
        fp32Data: [],
        fp64Data: [],
        int32Data: [],
        int64Data: [],
        boolData: [],
        rawData: Buffer.from(dense.buffer),
      },
    }).finish(),
  );
}

export const batchBody = denseBatchBody(BATCH_ROWS);
export const bigBatchBody = denseBatchBody(BIG_BATCH_ROWS);

export const restBody = JSON.stringify({ features: Object.fromEntries(row.map((v, i) => [`feature_${i}`, v])) });
