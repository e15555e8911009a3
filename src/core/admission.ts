/**
 * Admission to a model version's queue: which arriving requests are refused at once, and the
 * standing-queue state (CoDel) that decides it under overload.
 */
import type { BatchLimits, Drop } from './batch-types.js';
import type { CallContext } from './context.js';
import { cancelled, deadlineExceeded, queueFull } from './errors.js';

export class Admission {
  /**
   * A standing queue (CoDel): requests taken from it have waited more than the target (see
   * standingAfterMs) without a break for at least that long again, so new requests are shed at
   * once until it empties. One stall of the event loop (a GC pause, a busy machine) makes a
   * burst of long waits at one moment, which is not enough.
   */
  private standing = false;
  /** When requests taken from the queue started waiting over the target; undefined when the last one did not. */
  private aboveSince: number | undefined;
  /** Batch run time on a worker, ms (EWMA): waiting for the batch ahead is normal. */
  private runMsEwma = 0;

  constructor(
    private readonly label: string,
    private readonly limits: BatchLimits,
  ) {}

  /**
   * Why a request arriving at `now` is refused (to be rejected at once), or undefined when it
   * may queue behind `queuedRows` rows.
   */
  refusal(ctx: CallContext, rows: number, queuedRows: number, now: number): Drop | undefined {
    if (ctx.cancelled) return { reason: 'cancelled', error: cancelled('the call was cancelled') };
    if (ctx.deadline <= now) {
      return { reason: 'deadline', error: deadlineExceeded(`deadline exceeded before ${this.label} could queue the request`) };
    }
    // Admission by waiting time (CoDel's idea, as in Facebook's and Envoy's RPC queues): while
    // the queue stands, a new request would wait too long, so it is refused now, in
    // microseconds, rather than after its wait; accepted requests keep a bounded latency.
    if (this.standing && queuedRows > 0) {
      return {
        reason: 'shed',
        error: queueFull(
          `${this.label}: overloaded (requests wait over ${Math.round(this.standingAfterMs())} ms in its queue); retry later`,
          this.limits.retryPushbackMs,
        ),
      };
    }
    if (queuedRows + rows > this.limits.maxQueueRows && queuedRows > 0) {
      return {
        reason: 'shed',
        error: queueFull(
          `${this.label}: queue full (${queuedRows} rows waiting, limit ${this.limits.maxQueueRows}); retry later`,
          this.limits.retryPushbackMs,
        ),
      };
    }
    return undefined;
  }

  /** Updates the standing-queue state with the wait of a request leaving the queue. */
  noteWait(waitedMs: number, now: number): void {
    const target = this.standingAfterMs();
    if (waitedMs <= target) {
      this.aboveSince = undefined;
      this.standing = false;
      return;
    }
    this.aboveSince ??= now;
    this.standing = now - this.aboveSince >= target;
  }

  /** Folds one batch's run time on a worker into the average. */
  noteRunTime(runUs: number): void {
    this.runMsEwma = this.runMsEwma === 0 ? runUs / 1000 : this.runMsEwma * 0.75 + (runUs / 1000) * 0.25;
  }

  /**
   * The waiting time above which the queue stands: queueTargetMs, or one batch run time when
   * that is longer (waiting for the batch ahead to finish is not overload), at most half of
   * maxQueueWaitMs; Infinity when both limits are off.
   */
  private standingAfterMs(): number {
    const { queueTargetMs, maxQueueWaitMs } = this.limits;
    if (queueTargetMs <= 0 && maxQueueWaitMs <= 0) return Infinity;
    const target = queueTargetMs <= 0 ? Infinity : Math.max(queueTargetMs, this.runMsEwma);
    return maxQueueWaitMs <= 0 ? target : Math.min(target, maxQueueWaitMs / 2);
  }
}
