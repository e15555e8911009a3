/**
 * The demo model run in this process with onnxruntime-node: row (a), the limit (one thread,
 * no transport), and the answer every server's Predict must give.
 */
import ort from 'onnxruntime-node';

import { FEATURES } from './options.js';
import { row } from './requests.js';

/** Rows per second through one session on one thread, `rows` rows per call, for `seconds` s after a warm-up. */
export async function rawOnnxruntime(modelPath: string, rows: number, seconds: number): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const x = new Float32Array(rows * FEATURES).map((_, i) => Math.sin(i));
  const feeds = (): Record<string, ort.Tensor> => ({ features: new ort.Tensor('float32', x, [rows, FEATURES]) });
  for (let i = 0; i < 500; i++) await session.run(feeds());
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 100; i++) await session.run(feeds());
    calls += 100;
  }
  const elapsed = (performance.now() - t0) / 1000;
  await session.release();
  return (calls * rows) / elapsed;
}

/** The demo model's probability of class 1 for the one Predict row, as onnxruntime computes it. */
export async function expectedProbability(modelPath: string): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath);
  const expected = await session.run({ features: new ort.Tensor('float32', Float32Array.from(row), [1, FEATURES]) });
  const expectedP1 = (expected.probabilities!.data as Float32Array)[1] as number;
  await session.release();
  return expectedP1;
}
