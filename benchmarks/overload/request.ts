/** The one call every overload run makes: Predict with one row of the demo model's ten features, as a gRPC frame. */
import { PredictRequest } from '../../src/gen/quiver/v1/prediction.js';
import { grpcFrame } from '../lib/h2load.js';

export const PATH = '/quiver.v1.PredictionService/Predict';
const FEATURES = 10;

const row = Array.from({ length: FEATURES }, (_, i) => Math.round(Math.sin(i + 1) * 1000) / 1000);

export const body = grpcFrame(
  PredictRequest.encode({
    modelName: 'production-model',
    modelVersion: '',
    features: new Map(row.map((v, i) => [`feature_${i}`, v])),
    inputs: new Map(),
    id: '',
  }).finish(),
);
