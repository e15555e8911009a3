// k6 gRPC load test for Quiver BatchPredict (dense FP32 [256, 10]): k6 run benchmarks/k6/batch-predict.js
// Options: QUIVER_ADDR (default 127.0.0.1:50051), VUS (16), DURATION (30s), ROWS (256).
import grpc from 'k6/net/grpc';
import { check } from 'k6';

const client = new grpc.Client();
client.load(['../../proto'], 'quiver/v1/prediction.proto');

const ROWS = Number(__ENV.ROWS || 256);

export const options = {
  vus: Number(__ENV.VUS || 16),
  duration: __ENV.DURATION || '30s',
  thresholds: { checks: ['rate>0.99'] },
};

const values = [];
for (let i = 0; i < ROWS * 10; i++) values.push(Math.sin(i));

export default function () {
  if (__ITER === 0) client.connect(__ENV.QUIVER_ADDR || '127.0.0.1:50051', { plaintext: true });
  const res = client.invoke('quiver.v1.PredictionService/BatchPredict', {
    model_name: 'production-model',
    dense: { datatype: 'DATA_TYPE_FP32', shape: [ROWS, 10], fp32_data: values },
  });
  check(res, {
    'status is OK': (r) => r && r.status === grpc.StatusOK,
    'one probability pair per row': (r) => r && r.message && r.message.denseOutputs.probabilities.shape[0] === String(ROWS),
  });
}

export function teardown() {
  client.close();
}
