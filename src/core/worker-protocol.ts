/** Messages between the main thread and the inference workers. */
import type { DType, TypedData } from './tensor.js';

export interface WireTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TypedData;
}

export interface RunTask {
  /** Identifies one loaded model version (name, version, artifact hash, load number). */
  readonly key: string;
  readonly path: string;
  readonly inputs: readonly WireTensor[];
  readonly outputNames: readonly string[];
  /** Fault injection (tests only, refused unless the pool enables it). */
  readonly fault?: 'exit' | 'throw';
}

/** What the pool actually posts: the task plus bookkeeping. */
export interface PostedTask extends RunTask {
  /** Epoch ms when the main thread posted it. */
  readonly postedAt: number;
  /** Int32Array(1) over a SharedArrayBuffer: the worker stores 1 when it starts the task. */
  readonly started: Int32Array;
}

export interface RunResult {
  readonly outputs: readonly WireTensor[];
  /** Microseconds spent creating the session for this task (0 when it was cached). */
  readonly loadUs: number;
  /** Microseconds inside session.run. */
  readonly runUs: number;
  /** Microseconds from the main thread posting the task to the worker starting it. */
  readonly dispatchUs: number;
}

/**
 * Tests only, never a server option: lets a request id `quiver-fault:worker-exit` /
 * `quiver-fault:worker-throw` kill or break the worker running its batch. Given to
 * QuiverServer.start() as an extra, passed to InferenceCore (which marks the task) and
 * InferencePool (which tells the workers, WorkerData.faultInjection).
 */
export interface FaultInjection {
  readonly faultInjection?: boolean;
}

export interface WorkerData {
  readonly intraOpThreads: number;
  /** Whether the workers obey RunTask.fault (FaultInjection). */
  readonly faultInjection: boolean;
  readonly releaseChannel: string;
}

export interface ReleaseMessage {
  readonly key: string;
}
