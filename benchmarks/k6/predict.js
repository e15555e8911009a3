// k6 gRPC load test for Quiver Predict: k6 run benchmarks/k6/predict.js
// Options: QUIVER_ADDR (default 127.0.0.1:50051), VUS (64), DURATION (30s).
import grpc from 'k6/net/grpc';
import { check } from 'k6';

const client = new grpc.Client();
client.load(['../../proto'], 'quiver/v1/prediction.proto');

export const options = {
  vus: Number(__ENV.VUS || 64),
  duration: __ENV.DURATION || '30s',
  thresholds: {
    // The blueprint's alert thresholds: p95 under 100 ms, errors under 1%.
    grpc_req_duration: ['p(95)<100'],
    checks: ['rate>0.99'],
  },
};

const ROW = [1.5, 2.3, -0.8, 0.1, -1.2, 0.7, 1.8, -0.3, 2.1, 0.9];

export default function () {
  if (__ITER === 0) client.connect(__ENV.QUIVER_ADDR || '127.0.0.1:50051', { plaintext: true });
  const features = {};
  ROW.forEach((v, i) => (features[`feature_${i}`] = v + (Math.random() - 0.5) * 0.1));
  const res = client.invoke('quiver.v1.PredictionService/Predict', { model_name: 'production-model', features });
  check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'has a prediction': (r) => r && r.message && r.message.modelVersion !== '',
  });
}

export function teardown() {
  client.close();
}
