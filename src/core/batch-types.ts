/**
 * What the batching files share (batcher.ts, admission.ts, pending-queue.ts, batch-runner.ts,
 * batch-scheduler.ts): the limits, a queued request and what it settles with, the counters,
 * and the one place a dropped request is counted.
 */
import type { CallContext } from './context.js';
import type { DropReason, VersionObserver } from './observer.js';
import type { ServingSignature } from './signature.js';
import type { HostTensor } from './tensor.js';

export interface BatchLimits {
  readonly maxBatchRows: number;
  readonly maxQueueRows: number;
  /** The longest a request may wait in the queue (0 = no limit); see Admission and PendingQueue. */
  readonly maxQueueWaitMs: number;
  /** Waiting above this (or one batch run time, if longer) means a standing queue; see Admission. */
  readonly queueTargetMs: number;
  readonly maxQueueDelayUs: number;
  readonly retryPushbackMs: number;
  /** The latency objective at p99, ms (0: none, the fixed policy above); see LatencyObjective. */
  readonly latencyTargetMs: number;
}

export interface Timing {
  /** Microseconds between enqueue and dispatch to a worker. */
  readonly queueUs: number;
  /** Microseconds inside session.run for the whole batch. */
  readonly runUs: number;
  /** Rows in the batch this request rode in. */
  readonly batchRows: number;
  /** When the batch left the queue (epoch ms). */
  readonly dispatchedAt: number;
  /** Whether it ran on the main thread's inline lane. */
  readonly inline: boolean;
}

export interface BatchOutcome {
  /** In the signature's output order, this request's rows only. */
  readonly outputs: readonly HostTensor[];
  readonly timing: Timing;
}

/** Counters for metrics and tests. */
export interface BatcherStats {
  batches: number;
  rows: number;
  inlineRuns: number;
  shed: number;
  deadlineDropped: number;
  cancelledDropped: number;
  /** Batches that were re-sent because their worker died before starting them. */
  retried: number;
}

export interface BatcherSpec {
  readonly key: string;
  readonly path: string;
  readonly label: string;
  readonly signature: ServingSignature;
  readonly observer: VersionObserver;
}

/** A validated request from submit() until it settles. */
export interface Pending {
  readonly tensors: readonly HostTensor[];
  readonly rows: number;
  readonly shapeKey: string;
  readonly enqueuedAt: number;
  readonly ctx: CallContext;
  readonly fault: 'exit' | 'throw' | undefined;
  readonly resolve: (outcome: BatchOutcome) => void;
  readonly reject: (err: Error) => void;
  /** Set once taken out of the queue (sent, dropped or cancelled). */
  taken: boolean;
  offCancel: () => void;
}

/** Why a request is refused or dropped, and the error its caller gets. */
export interface Drop {
  readonly reason: DropReason;
  readonly error: Error;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();

export function settle(p: Pending, outcome: BatchOutcome | Error): void {
  p.offCancel();
  if (outcome instanceof Error) p.reject(outcome);
  else p.resolve(outcome);
}

const COUNTER = {
  cancelled: 'cancelledDropped',
  deadline: 'deadlineDropped',
  shed: 'shed',
} as const satisfies Record<DropReason, keyof BatcherStats>;

/** Counts a refused or dropped request, in the stats and for the observer. */
export function countDrop(spec: BatcherSpec, stats: BatcherStats, reason: DropReason): void {
  stats[COUNTER[reason]]++;
  spec.observer.dropped(reason);
}
