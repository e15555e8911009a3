/**
 * What the core reports about each model version as it serves (metrics, statistics, drift
 * detection live outside the core and implement this). One observer per loaded version, so
 * implementations can bind their label sets once instead of per request.
 */
import type { Lineage } from '../gen/quiver/v1/registry.js';
import type { ServingSignature } from './signature.js';
import type { HostTensor } from './tensor.js';

export type DropReason = 'shed' | 'deadline' | 'cancelled';

export interface VersionObserver {
  /**
   * Instances answered (or failed) for this version: their status code, the call's duration
   * (null when it was already reported for the same call) and how many instances.
   */
  request(code: number, seconds: number | null, rows: number): void;
  /** The predicted value of one answered instance (class, or regression value). */
  prediction(value: number): void;
  /** One batch run: rows, and seconds inside onnxruntime; `inline` for the main-thread lane. */
  batch(rows: number, runSeconds: number, inline: boolean): void;
  /** The batching policy now: rows a batch may take, and seconds a partial batch may wait for more. */
  batchPlan(rows: number, holdSeconds: number): void;
  /** Seconds a request waited in the queue before its batch went to a worker. */
  queueWait(seconds: number): void;
  dropped(reason: DropReason): void;
  /** A validated [N, F] feature input (for drift detection). */
  features(input: HostTensor): void;
  /** The version is unloaded: release what the observer holds (label sets, windows). */
  close(): void;
}

export interface VersionInfo {
  readonly name: string;
  readonly version: number;
  readonly signature: ServingSignature;
  /** From the registry, when the version came from it. */
  readonly lineage?: Lineage;
}

export type ObserverFactory = (info: VersionInfo) => VersionObserver;

const noop = (): void => undefined;

export const NOOP_OBSERVER: VersionObserver = {
  request: noop,
  prediction: noop,
  batch: noop,
  batchPlan: noop,
  queueWait: noop,
  dropped: noop,
  features: noop,
  close: noop,
};
