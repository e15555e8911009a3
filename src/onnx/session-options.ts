/**
 * The onnxruntime session options of every session the server creates: the inference
 * workers (core/worker.ts), the inline lane (core/inline-runner.ts) and the trial-load child
 * (registry/trial-child.ts). Fixed by the server, never by the model or the uploader: the CPU
 * provider only, no custom-op libraries, no profiling output, no optimized-model file. One
 * definition, so a model that passes the trial load is loaded and optimized the same way by
 * the workers and the inline lane.
 */
import type { InferenceSession } from 'onnxruntime-node';

/**
 * Options for a server session with `intraOpThreads` threads inside each operator: the only
 * thing that differs between the places, see each caller. `enableProfiling: false` is
 * onnxruntime's default, stated so that no session writes a profile.
 */
export function sessionOptions(intraOpThreads: number): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: intraOpThreads,
    // One run at a time per session: inter-op parallelism would only add threads.
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableProfiling: false,
    logSeverityLevel: 3,
  };
}
