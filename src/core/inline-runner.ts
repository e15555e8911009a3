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

import { ServerSession } from '../onnx/server-session.js';
import type { ServingSignature } from './signature.js';
import type { HostTensor, TypedData } from './tensor.js';

// One thread: this session runs on the main thread, and only models whose single-row run is
// within inlineMaxUs qualify, so an operator thread pool would only add threads.
const INTRA_OP_THREADS = 1;

export class InlineRunner {
  private readonly inputNames: readonly string[];
  private readonly outputNames: readonly string[];

  private constructor(
    private readonly session: ServerSession,
    signature: ServingSignature,
    /** Single-row run time measured at load (in a worker), µs. */
    readonly runUs: number,
  ) {
    this.inputNames = signature.inputs.map((i) => i.name);
    this.outputNames = signature.outputs.map((o) => o.name);
  }

  /** Creates the main-thread session for a model whose single-row run measured `runUs`. */
  static create(path: string, signature: ServingSignature, runUs: number): InlineRunner {
    return new InlineRunner(ServerSession.load(path, INTRA_OP_THREADS), signature, runUs);
  }

  /**
   * Runs on the calling (main) thread, synchronously (see onnx/server-session.ts); inputs in
   * signature order, outputs likewise. Throws what onnxruntime throws.
   */
  run(inputs: readonly HostTensor[]): HostTensor[] {
    const feeds: Record<string, ort.Tensor> = {};
    this.inputNames.forEach((name, i) => {
      const t = inputs[i] as HostTensor;
      feeds[name] = new ort.Tensor(t.dtype, t.data as ort.Tensor.DataType, t.dims);
    });
    const out = this.session.run(feeds, this.outputNames);
    return this.outputNames.map((name) => {
      const t = out[name] as ort.Tensor;
      return { dtype: t.type as HostTensor['dtype'], dims: t.dims, data: t.data as TypedData };
    });
  }

  release(): void {
    this.session.release();
  }
}
