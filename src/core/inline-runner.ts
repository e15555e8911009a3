/**
 * The inline lane: a main-thread session for cheap models, used only when a request would
 * otherwise wait for nothing (the pool is idle and the model's queue is empty). A worker
 * round trip costs ~100-150 µs on this class of machine, ten times a small model's own run
 * time, so at low concurrency the inline lane cuts latency to that of a plain in-process
 * call. A model qualifies only if its single-row run time, measured in a worker at warm-up,
 * is within `inlineMaxUs`, which bounds how long it can hold the event loop; under load
 * every request is batched onto the workers as usual.
 */
import ort from 'onnxruntime-node';

import { sessionOptions } from '../onnx/session-options.js';
import type { ServingSignature } from './signature.js';
import type { HostTensor, TypedData } from './tensor.js';

// One thread: this session runs on the main thread, and only models whose single-row run is
// within inlineMaxUs qualify, so an operator thread pool would only add threads.
const SESSION_OPTIONS = sessionOptions(1);

export class InlineRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly signature: ServingSignature,
    /** Single-row run time measured at load (in a worker), µs. */
    readonly runUs: number,
  ) {}

  /** Creates the main-thread session for a model whose single-row run measured `runUs`. */
  static async create(path: string, signature: ServingSignature, runUs: number): Promise<InlineRunner> {
    return new InlineRunner(await ort.InferenceSession.create(path, SESSION_OPTIONS), signature, runUs);
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
