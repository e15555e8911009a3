/**
 * Server-side dynamic batching. Each loaded model version has a Batcher: a bounded queue of
 * validated requests. The BatchScheduler (batch-scheduler.ts) hands batches to the worker pool
 * whenever it has a free slot, once per event-loop turn and round-robin across model versions.
 * A batch takes queued requests in order up to `maxBatchRows` (only requests whose non-batch
 * dimensions agree share a batch), so under load batches grow by themselves. Requests that
 * were cancelled or whose deadline passed are dropped before inference.
 *
 * The Batcher composes the parts: Admission (admission.ts) refuses requests at once under
 * overload, the PendingQueue (pending-queue.ts) holds and drops them, the BatchRunner
 * (batch-runner.ts) runs batches and settles them, the RunCostModel (run-cost.ts) learns how
 * run time grows with rows, and with a latency objective the LatencyObjective
 * (latency-objective.ts) sizes and holds batches and refuses requests that would be late;
 * the Batcher adds the inline-lane choice, the hold timer and draining.
 */
import { Admission } from './admission.js';
import { BatchRunner } from './batch-runner.js';
import { type BatchPlan, LatencyObjective } from './latency-objective.js';
import { RunCostModel } from './run-cost.js';
import type { BatchScheduler } from './batch-scheduler.js';
import { type BatcherSpec, type BatcherStats, type BatchLimits, type BatchOutcome, countDrop, nowMs, type Pending } from './batch-types.js';
import type { CallContext } from './context.js';
import { cancelled, unavailable } from './errors.js';
import type { InlineRunner } from './inline-runner.js';
import type { InferencePool } from './pool.js';
import { PendingQueue } from './pending-queue.js';
import { type HostTensor, trailingShapeKey } from './tensor.js';

/** The largest request the inline lane takes at low load; bigger ones are worth a worker. */
const INLINE_MAX_ROWS = 8;

/**
 * A request that fills a batch on its own gains nothing from waiting for others, and when
 * its estimated run is within this, running it on the main thread costs that thread no more
 * than handing it to a worker does (posting it, piscina's bookkeeping, reading the answer:
 * 45-50 µs measured with the demo model's 256-row dense batches), and it frees the worker.
 */
const INLINE_FULL_BATCH_US = 50;

const noop = (): void => undefined;

export class Batcher {
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private drainWaiters: Array<() => void> = [];
  private inline: InlineRunner | null = null;
  /** Whether validated requests can differ in non-batch dimensions (some input has a dynamic one). */
  private readonly ragged: boolean;
  readonly stats: BatcherStats = { batches: 0, rows: 0, inlineRuns: 0, shed: 0, deadlineDropped: 0, cancelledDropped: 0, retried: 0 };
  private readonly admission: Admission;
  private readonly queue: PendingQueue;
  private readonly runner: BatchRunner;
  /** How this version's run time grows with batch rows (learnt from its batches). */
  readonly cost = new RunCostModel();
  private readonly objective: LatencyObjective | undefined;
  /** The plan without an objective: the fixed limits. */
  private readonly fixedPlan: BatchPlan;
  /** The plan last reported to the observer (the batch-policy gauges). */
  private reported: BatchPlan = { rows: -1, holdMs: -1 };
  scheduled = false;

  constructor(
    readonly spec: BatcherSpec,
    private readonly scheduler: BatchScheduler,
    private readonly limits: BatchLimits,
  ) {
    this.ragged = spec.signature.inputs.some((t) => t.dims === null || t.dims.slice(1).some((d) => d < 0));
    this.admission = new Admission(spec.label, limits);
    this.queue = new PendingQueue(spec, limits, this.admission, this.stats);
    this.runner = new BatchRunner(spec, this.stats, this.admission, this.cost, () => this.afterRun());
    this.objective =
      limits.latencyTargetMs > 0 && spec.signature.batchable
        ? new LatencyObjective(
            spec.label,
            limits.latencyTargetMs,
            this.cost,
            limits.maxBatchRows,
            () => scheduler.parallelism(),
            limits.retryPushbackMs,
          )
        : undefined;
    this.fixedPlan = { rows: spec.signature.batchable ? limits.maxBatchRows : 1, holdMs: limits.maxQueueDelayUs / 1000 };
    this.plan();
  }

  /** The latency objective, ms, or 0 when the version has none. */
  get latencyTargetMs(): number {
    return this.objective?.targetMs ?? 0;
  }

  /**
   * How many rows the next batch may take and how long a partial one may wait: the
   * objective's choice, or the fixed limits. Reported to the observer when it changes.
   */
  private plan(): BatchPlan {
    const plan = this.objective?.plan(this.queue.rows) ?? this.fixedPlan;
    if (plan.rows !== this.reported.rows || plan.holdMs !== this.reported.holdMs) {
      this.reported = plan;
      this.spec.observer.batchPlan(plan.rows, plan.holdMs / 1000);
    }
    return plan;
  }

  /** Enables the inline lane for this version (see inline-runner.ts). */
  setInline(runner: InlineRunner | null): void {
    this.inline = runner;
  }

  get inlineRunner(): InlineRunner | null {
    return this.inline;
  }

  get maxBatchRows(): number {
    return this.limits.maxBatchRows;
  }

  get queuedRows(): number {
    return this.queue.rows;
  }

  get inflightBatches(): number {
    return this.runner.inflight;
  }

  /**
   * Queues a validated request; rejects at once with RESOURCE_EXHAUSTED when full. The
   * tensors are only read (copied into batches), never transferred.
   */
  submit(tensors: readonly HostTensor[], rows: number, ctx: CallContext, fault?: 'exit' | 'throw'): Promise<BatchOutcome> {
    if (this.closed) return Promise.reject(unavailable(`${this.spec.label} is being unloaded`));
    const now = nowMs();
    const refusal =
      this.admission.refusal(ctx, rows, this.queue.rows, now) ??
      this.objective?.refusal(rows, this.queue.rows, this.runner.inflight, this.runner.inflightRows);
    if (refusal !== undefined) {
      countDrop(this.spec, this.stats, refusal.reason);
      return Promise.reject(refusal.error);
    }
    this.objective?.noteArrival(rows, now);
    const calm = this.scheduler.arrive();
    return new Promise<BatchOutcome>((resolve, reject) => {
      const pending: Pending = {
        tensors,
        rows,
        shapeKey: this.ragged ? trailingShapeKey(tensors) : '',
        enqueuedAt: now,
        ctx,
        fault,
        resolve: (outcome) => {
          this.scheduler.depart();
          resolve(outcome);
        },
        reject: (err) => {
          this.scheduler.depart();
          reject(err);
        },
        taken: false,
        offCancel: noop,
      };
      // A cheap model's request takes the inline lane when a worker would only add cost:
      // nothing else is queued or running anywhere and traffic has been light (a small
      // request), or the request fills a batch alone and runs within INLINE_FULL_BATCH_US.
      if (
        this.inline !== null &&
        fault === undefined &&
        this.queue.rows === 0 &&
        !ctx.cancelled &&
        ((calm && rows <= INLINE_MAX_ROWS && this.scheduler.idle()) ||
          (rows >= this.plan().rows && this.cost.estimateUs(rows) <= INLINE_FULL_BATCH_US))
      ) {
        pending.taken = true;
        // Synchronous (onnx/server-session.ts): one inline run at a time by construction, and
        // the request is settled when it returns.
        this.runner.runInline(pending, this.inline);
        return;
      }
      this.queue.add(pending);
      pending.offCancel = ctx.onCancel(() => {
        if (pending.taken) return;
        // Still queued: free its queue slot now.
        this.queue.drop(pending, { reason: 'cancelled', error: cancelled('the call was cancelled') });
        this.checkDrained();
      });
      this.scheduler.notify(this);
    });
  }

  hasWork(): boolean {
    return this.queue.rows > 0;
  }

  /**
   * Takes the next batch, or null when there is nothing to send or a partial batch should
   * wait (`maxQueueDelayUs`); in that case a timer re-notifies the scheduler.
   */
  takeBatch(): Pending[] | null {
    const now = nowMs();
    const live = this.queue.skipToLive(now);
    this.checkDrained();
    if (!live) return null;
    const sig = this.spec.signature;
    const plan = this.plan();
    if (plan.holdMs > 0 && sig.batchable && this.queue.rows < plan.rows && !this.closed) {
      const flushAt = this.queue.flushAt(plan.holdMs);
      if (now < flushAt) {
        this.armTimer(flushAt, now);
        return null;
      }
    }
    if (this.objective?.holdWhileBusy(this.queue.rows, this.runner.inflight) === true && !this.closed) return null;
    const batch = this.queue.takeBatch(now, plan.rows, sig.batchable);
    return batch.length === 0 ? null : batch;
  }

  private armTimer(at: number, now: number): void {
    if (this.timer !== undefined && this.timerAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.scheduler.notify(this);
      },
      Math.max(0, at - now),
    );
  }

  /** Runs a batch taken by takeBatch on the pool and settles every request in it. */
  execute(batch: Pending[], pool: InferencePool): Promise<void> {
    return this.runner.run(batch, pool);
  }

  /** Stops taking requests; resolves once everything queued and in flight has settled. */
  drain(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      this.scheduler.notify(this);
    }
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.checkDrained();
    });
  }

  /** After a batch settled: a batch held while every worker was busy may go now. */
  private afterRun(): void {
    if (this.objective !== undefined && this.queue.rows > 0) this.scheduler.notify(this);
    this.checkDrained();
  }

  private checkDrained(): void {
    if (!this.closed || this.runner.inflight > 0 || this.queue.rows > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }
}
