/**
 * The inline lane: a main-thread session for cheap models, used only when a request would
 * otherwise wait for nothing (the pool is idle and the model's queue is empty). A worker
 * round trip costs ~100-150 µs on this class of machine, ten times a small model's own run
 * time, so at low concurrency the inline lane cuts latency to that of a plain in-process
 * call. A model qualifies only if its measured single-row run time is within `inlineMaxUs`,
 * which bounds how long it can hold the event loop; under load every request is batched
 * onto the workers as usual.
 */
import ort from 'onnxruntime-node';

import type { ServingSignature } from './signature.js';
import { allocate, elementCount, type HostTensor, type TypedData } from './tensor.js';

const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  logSeverityLevel: 3,
};

const TRIALS = 25;

export class InlineRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly signature: ServingSignature,
    /** Median single-row run time measured at load, µs. */
    readonly runUs: number,
  ) {}

  /** Creates the session and measures it; null when the model is too slow to run inline. */
  static async create(path: string, signature: ServingSignature, maxUs: number): Promise<InlineRunner | null> {
    if (maxUs <= 0) return null;
    const session = await ort.InferenceSession.create(path, SESSION_OPTIONS);
    const runner = new InlineRunner(session, signature, 0);
    const times: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const inputs = signature.inputs.map((spec): HostTensor => {
        const dims = (spec.dims ?? [1]).map((d) => (d < 0 ? 1 : d));
        return { dtype: spec.dtype, dims, data: allocate(spec.dtype, elementCount(dims)) };
      });
      const t0 = performance.now();
      await runner.run(inputs);
      times.push((performance.now() - t0) * 1000);
    }
    times.sort((a, b) => a - b);
    const median = times[TRIALS >> 1] as number;
    if (median > maxUs) {
      await session.release();
      return null;
    }
    return new InlineRunner(session, signature, Math.round(median));
  }

  /** Runs on the calling (main) thread; inputs in signature order, outputs likewise. */
  async run(inputs: readonly HostTensor[]): Promise<HostTensor[]> {
    const feeds: Record<string, ort.Tensor> = {};
    this.signature.inputs.forEach((spec, i) => {
      const t = inputs[i] as HostTensor;
      feeds[spec.name] = new ort.Tensor(t.dtype, t.data as ort.Tensor.DataType, t.dims);
    });
    const names = this.signature.outputs.map((o) => o.name);
    const out = await this.session.run(feeds, names);
    return names.map((name) => {
      const t = out[name] as ort.Tensor;
      return { dtype: t.type as HostTensor['dtype'], dims: t.dims, data: t.data as TypedData };
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
