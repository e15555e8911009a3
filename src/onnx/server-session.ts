/**
 * The onnxruntime session every server session is: the inference workers' (core/worker.ts),
 * the inline lane's (core/inline-runner.ts) and the trial load's (registry/trial-child.ts),
 * all with the options of session-options.ts.
 *
 * It runs synchronously. onnxruntime-node's public `InferenceSession.run` validates the feeds,
 * defers the native run to a setImmediate callback and wraps each output again; the native
 * session under it (the package's own binding module, the one its backend calls) runs at once
 * and returns onnxruntime-common Tensors. For the demo model, one row, on the 2-core machine of
 * docs/benchmarks.md: 30 µs per call through the public API, 15 µs through the native session.
 * The inline lane answers in that time on the main thread, so half of it is a request's latency.
 * The feeds are checked before they get here (core/validate.ts builds them from the model's
 * signature), so the public API's checks would only repeat ours.
 *
 * The binding module is not part of onnxruntime-node's typed API: the version is pinned in
 * package-lock.json, and test/onnx-session.test.ts compares this session's outputs and errors
 * with the public API's, so an upgrade that moves it fails the tests, not the server.
 */
import { createRequire } from 'node:module';

import type ort from 'onnxruntime-node';

import { sessionOptions } from './session-options.js';

/** The native session of onnxruntime-node's binding (onnxruntime-node/dist/binding.js). */
interface NativeSession {
  loadModel(path: string, options: ort.InferenceSession.SessionOptions): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>, options: object): Record<string, ort.Tensor>;
  dispose(): void;
}

interface Binding {
  readonly binding: { InferenceSession: new () => NativeSession };
  /** Sets onnxruntime's log level and its Tensor class once per thread, as the backend does. */
  initOrt(): void;
}

const native = createRequire(import.meta.url)('onnxruntime-node/dist/binding.js') as Binding;

/** The run options onnxruntime-node passes when none are given. */
const RUN_OPTIONS = Object.freeze({});

export class ServerSession {
  private released = false;

  private constructor(private readonly session: NativeSession) {}

  /**
   * Loads a model file with `intraOpThreads` threads inside each operator (see
   * session-options.ts). Loading blocks the calling thread, as it does through the public API.
   */
  static load(path: string, intraOpThreads: number): ServerSession {
    native.initOrt();
    const session = new native.binding.InferenceSession();
    session.loadModel(path, sessionOptions(intraOpThreads));
    return new ServerSession(session);
  }

  /** Runs the model on the calling thread: `outputs` by name, in the model's Tensors. */
  run(feeds: Record<string, ort.Tensor>, outputs: readonly string[]): Record<string, ort.Tensor> {
    const fetches: Record<string, null> = {};
    for (const name of outputs) fetches[name] = null;
    return this.session.run(feeds, fetches, RUN_OPTIONS);
  }

  /** Frees the native session; later runs throw. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.session.dispose();
  }
}
