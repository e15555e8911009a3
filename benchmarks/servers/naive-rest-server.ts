/**
 * Baseline for the REST gateway: the single-file server most Node users would write
 * instead, Fastify with onnxruntime run inline on the main thread for every request.
 */
import Fastify from 'fastify';
import ort from 'onnxruntime-node';

const port = Number(process.argv[2] ?? 8081);
const modelPath = process.argv[3] as string;
const FEATURES = Array.from({ length: 10 }, (_, i) => `feature_${i}`);

const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const app = Fastify({ logger: false });

app.post('/predict', async (req, reply) => {
  const features = (req.body as { features?: Record<string, unknown> }).features;
  if (features === undefined) return reply.code(400).send({ error: 'features required' });
  const x = new Float32Array(FEATURES.length);
  for (let i = 0; i < FEATURES.length; i++) {
    const v = features[FEATURES[i] as string];
    if (typeof v !== 'number') return reply.code(400).send({ error: `${FEATURES[i]} must be a number` });
    x[i] = v;
  }
  const out = await session.run({ features: new ort.Tensor('float32', x, [1, FEATURES.length]) });
  const probabilities = Array.from(out.probabilities!.data as Float32Array);
  const prediction = Number((out.label!.data as BigInt64Array)[0]);
  return { prediction, probability: Math.max(...probabilities), probabilities, model_name: 'production-model', model_version: '1' };
});

await app.listen({ host: '127.0.0.1', port });
process.stdout.write(`listening ${port}\n`);
process.on('SIGTERM', () => void app.close());
