/** Messages between the main thread and the inference workers. */
import type { DType, TypedData } from './tensor.js';

export interface WireTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TypedData;
}

export interface RunTask {
  /** Identifies one loaded model version (name, version, artifact hash). */
  readonly key: string;
  readonly path: string;
  readonly inputs: readonly WireTensor[];
  readonly outputNames: readonly string[];
  /** Fault injection (tests only, refused unless the pool enables it). */
  readonly fault?: 'exit' | 'throw';
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

export interface WorkerData {
  readonly intraOpThreads: number;
  readonly faultInjection: boolean;
  readonly releaseChannel: string;
}

export interface ReleaseMessage {
  readonly key: string;
}
