/**
 * Server-side dynamic batching. Each loaded model version has a Batcher: a bounded queue of
 * validated requests. The BatchScheduler hands batches to the worker pool whenever it has a
 * free slot, once per event-loop turn and round-robin across model versions. A batch takes
 * queued requests in order up to `maxBatchRows` (only requests whose non-batch dimensions
 * agree share a batch), so under load batches grow by themselves. Requests that were
 * cancelled or whose deadline passed are dropped before inference.
 */
import type { CallContext } from './context.js';
import { cancelled, deadlineExceeded, inferenceFailed, queueFull, unavailable } from './errors.js';
import type { InlineRunner } from './inline-runner.js';
import type { VersionObserver } from './observer.js';
import { type InferencePool, TaskFailure } from './pool.js';
import type { ServingSignature } from './signature.js';
import { concatRows, type HostTensor, sliceRows, trailingShapeKey } from './tensor.js';
import type { RunResult, WireTensor } from './worker-protocol.js';

export interface BatchLimits {
  readonly maxBatchRows: number;
  readonly maxQueueRows: number;
  /** The longest a request may wait in the queue (0 = no limit); see submit() and drop(). */
  readonly maxQueueWaitMs: number;
  /** Waiting above this (or one batch run time, if longer) means a standing queue; see submit(). */
  readonly queueTargetMs: number;
  readonly maxQueueDelayUs: number;
  readonly retryPushbackMs: number;
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

interface Pending {
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

export interface BatcherSpec {
  readonly key: string;
  readonly path: string;
  readonly label: string;
  readonly signature: ServingSignature;
  readonly observer: VersionObserver;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/** The largest request the inline lane takes; bigger ones are worth a worker. */
const INLINE_MAX_ROWS = 8;
/** A delayed partial batch leaves this long before its earliest deadline. */
const DEADLINE_MARGIN_MS = 2;
/** How fast the load estimate fades when no request arrives (time constant, ms). */
const LOAD_DECAY_MS = 2;
/** Attempts for a batch whose worker died before starting it. */
const MAX_ATTEMPTS = 3;

function settle(p: Pending, outcome: BatchOutcome | Error): void {
  p.offCancel();
  if (outcome instanceof Error) p.reject(outcome);
  else p.resolve(outcome);
}

export class Batcher {
  private queue: Pending[] = [];
  private head = 0;
  private queuedRowsCount = 0;
  private inflight = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private drainWaiters: Array<() => void> = [];
  private inline: InlineRunner | null = null;
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
  /** Whether validated requests can differ in non-batch dimensions (some input has a dynamic one). */
  private readonly ragged: boolean;
  readonly stats: BatcherStats = { batches: 0, rows: 0, inlineRuns: 0, shed: 0, deadlineDropped: 0, cancelledDropped: 0, retried: 0 };
  scheduled = false;

  constructor(
    readonly spec: BatcherSpec,
    private readonly scheduler: BatchScheduler,
    private readonly limits: BatchLimits,
  ) {
    this.ragged = spec.signature.inputs.some((t) => t.dims === null || t.dims.slice(1).some((d) => d < 0));
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
    return this.queuedRowsCount;
  }

  get inflightBatches(): number {
    return this.inflight;
  }

  /**
   * Queues a validated request; rejects at once with RESOURCE_EXHAUSTED when full. The
   * tensors are only read (copied into batches), never transferred.
   */
  submit(tensors: readonly HostTensor[], rows: number, ctx: CallContext, fault?: 'exit' | 'throw'): Promise<BatchOutcome> {
    if (this.closed) return Promise.reject(unavailable(`${this.spec.label} is being unloaded`));
    if (ctx.cancelled) {
      this.stats.cancelledDropped++;
      this.spec.observer.dropped('cancelled');
      return Promise.reject(cancelled('the call was cancelled'));
    }
    if (ctx.deadline <= nowMs()) {
      this.stats.deadlineDropped++;
      this.spec.observer.dropped('deadline');
      return Promise.reject(deadlineExceeded(`deadline exceeded before ${this.spec.label} could queue the request`));
    }
    // Admission by waiting time (CoDel's idea, as in Facebook's and Envoy's RPC queues): while
    // the queue stands, a new request would wait too long, so it is refused now, in
    // microseconds, rather than after its wait; accepted requests keep a bounded latency.
    if (this.standing && this.queuedRowsCount > 0) {
      this.stats.shed++;
      this.spec.observer.dropped('shed');
      return Promise.reject(
        queueFull(
          `${this.spec.label}: overloaded (requests wait over ${Math.round(this.standingAfterMs())} ms in its queue); retry later`,
          this.limits.retryPushbackMs,
        ),
      );
    }
    if (this.queuedRowsCount + rows > this.limits.maxQueueRows && this.queuedRowsCount > 0) {
      this.stats.shed++;
      this.spec.observer.dropped('shed');
      return Promise.reject(
        queueFull(
          `${this.spec.label}: queue full (${this.queuedRowsCount} rows waiting, limit ${this.limits.maxQueueRows}); retry later`,
          this.limits.retryPushbackMs,
        ),
      );
    }
    const calm = this.scheduler.arrive();
    return new Promise<BatchOutcome>((resolve, reject) => {
      const pending: Pending = {
        tensors,
        rows,
        shapeKey: this.ragged ? trailingShapeKey(tensors) : '',
        enqueuedAt: nowMs(),
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
      // Nothing else is queued or running anywhere, and traffic has been light: a worker
      // round trip would only add latency, so a small request for a cheap model takes the
      // inline lane.
      if (
        calm &&
        this.inline !== null &&
        fault === undefined &&
        rows <= INLINE_MAX_ROWS &&
        this.queuedRowsCount === 0 &&
        !ctx.cancelled &&
        this.scheduler.idle()
      ) {
        pending.taken = true;
        this.scheduler.runInline(this, pending);
        return;
      }
      this.queue.push(pending);
      this.queuedRowsCount += rows;
      pending.offCancel = ctx.onCancel(() => {
        if (pending.taken) return;
        // Still queued: free its queue slot now.
        pending.taken = true;
        this.queuedRowsCount -= pending.rows;
        this.stats.cancelledDropped++;
        this.spec.observer.dropped('cancelled');
        settle(pending, cancelled('the call was cancelled'));
        this.checkDrained();
      });
      this.scheduler.notify(this);
    });
  }

  hasWork(): boolean {
    return this.queuedRowsCount > 0;
  }

  /**
   * Takes the next batch, or null when there is nothing to send or a partial batch should
   * wait (`maxQueueDelayUs`); in that case a timer re-notifies the scheduler.
   */
  takeBatch(): Pending[] | null {
    const now = nowMs();
    this.skipTaken(now);
    if (this.head >= this.queue.length) return null;
    const sig = this.spec.signature;
    const delayMs = this.limits.maxQueueDelayUs / 1000;
    if (delayMs > 0 && sig.batchable && this.queuedRowsCount < this.limits.maxBatchRows && !this.closed) {
      const oldest = this.queue[this.head] as Pending;
      let flushAt = oldest.enqueuedAt + delayMs;
      for (let i = this.head; i < this.queue.length; i++) {
        const p = this.queue[i] as Pending;
        if (!p.taken) flushAt = Math.min(flushAt, p.ctx.deadline - DEADLINE_MARGIN_MS);
      }
      if (now < flushAt) {
        this.armTimer(flushAt, now);
        return null;
      }
    }
    const batch: Pending[] = [];
    let rows = 0;
    let shapeKey = '';
    while (this.head < this.queue.length) {
      const p = this.queue[this.head] as Pending;
      if (p.taken || this.drop(p, now)) {
        this.head++;
        continue;
      }
      if (batch.length > 0 && (!sig.batchable || rows + p.rows > this.limits.maxBatchRows || p.shapeKey !== shapeKey)) break;
      this.head++;
      p.taken = true;
      p.offCancel();
      this.queuedRowsCount -= p.rows;
      this.noteWait(now - p.enqueuedAt, now);
      if (batch.length === 0) shapeKey = p.shapeKey;
      batch.push(p);
      rows += p.rows;
    }
    this.compact();
    return batch.length === 0 ? null : batch;
  }

  /**
   * The waiting time above which the queue stands: queueTargetMs, or one batch run time when
   * that is longer (waiting for the batch ahead to finish is not overload), at most half of
   * maxQueueWaitMs; Infinity when both limits are off.
   */
  /** Updates the standing-queue state with the wait of a request leaving the queue. */
  private noteWait(waitedMs: number, now: number): void {
    const target = this.standingAfterMs();
    if (waitedMs <= target) {
      this.aboveSince = undefined;
      this.standing = false;
      return;
    }
    this.aboveSince ??= now;
    this.standing = now - this.aboveSince >= target;
  }

  private standingAfterMs(): number {
    const { queueTargetMs, maxQueueWaitMs } = this.limits;
    if (queueTargetMs <= 0 && maxQueueWaitMs <= 0) return Infinity;
    const target = queueTargetMs <= 0 ? Infinity : Math.max(queueTargetMs, this.runMsEwma);
    return maxQueueWaitMs <= 0 ? target : Math.min(target, maxQueueWaitMs / 2);
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
  async execute(batch: Pending[], pool: InferencePool): Promise<void> {
    this.inflight++;
    const dispatchedAt = nowMs();
    try {
      const sig = this.spec.signature;
      const fault = batch.find((p) => p.fault !== undefined)?.fault;
      let result: RunResult | undefined;
      for (let attempt = 1; result === undefined; attempt++) {
        // Fresh buffers each attempt: they are transferred to the worker and gone after.
        const inputs: WireTensor[] = sig.inputs.map((spec, i) => ({
          name: spec.name,
          ...concatRows(batch.map((p) => p.tensors[i] as HostTensor)),
        }));
        try {
          result = await pool.run({
            key: this.spec.key,
            path: this.spec.path,
            inputs,
            outputNames: sig.outputs.map((o) => o.name),
            ...(fault === undefined ? {} : { fault }),
          });
        } catch (err) {
          // A batch that never started (its worker died with another batch) runs again.
          if (err instanceof TaskFailure && !err.started && attempt < MAX_ATTEMPTS) {
            this.stats.retried++;
            continue;
          }
          throw err;
        }
      }
      const batchRows = batch.reduce((n, p) => n + p.rows, 0);
      this.stats.batches++;
      this.stats.rows += batchRows;
      this.spec.observer.batch(batchRows, result.runUs / 1e6, false);
      this.runMsEwma = this.runMsEwma === 0 ? result.runUs / 1000 : this.runMsEwma * 0.75 + (result.runUs / 1000) * 0.25;
      this.distribute(batch, result.outputs, dispatchedAt, result.runUs, batchRows, false);
    } catch (err) {
      const error = inferenceFailed(`inference failed for ${this.spec.label}`, err instanceof TaskFailure ? err.cause : err);
      for (const p of batch) settle(p, error);
    } finally {
      this.inflight--;
      this.checkDrained();
    }
  }

  /** Runs one small request on the main thread's session (the inline lane). */
  async executeInline(p: Pending): Promise<void> {
    this.inflight++;
    const dispatchedAt = nowMs();
    try {
      const outputs = await (this.inline as InlineRunner).run(p.tensors);
      this.stats.inlineRuns++;
      this.stats.rows += p.rows;
      this.spec.observer.batch(p.rows, (nowMs() - dispatchedAt) / 1000, true);
      this.distribute([p], outputs, dispatchedAt, Math.round((nowMs() - dispatchedAt) * 1000), p.rows, true);
    } catch (err) {
      settle(p, inferenceFailed(`inference failed for ${this.spec.label}`, err));
    } finally {
      this.inflight--;
      this.checkDrained();
    }
  }

  /** Splits batch outputs back to their requests along the batch dimension. */
  private distribute(
    batch: Pending[],
    outputs: readonly HostTensor[],
    dispatchedAt: number,
    runUs: number,
    batchRows: number,
    inline: boolean,
  ): void {
    if (batch.length > 1) {
      outputs.forEach((o, i) => {
        if (o.dims[0] !== batchRows) {
          throw new Error(
            `output '${this.spec.signature.outputs[i]?.name}' has first dimension ${o.dims[0]}, not the batch's ${batchRows} rows: it cannot be split per request`,
          );
        }
      });
    }
    let offset = 0;
    for (const p of batch) {
      const mine = batch.length === 1 ? outputs : outputs.map((o) => sliceRows(o, offset, offset + p.rows));
      offset += p.rows;
      const queueMs = dispatchedAt - p.enqueuedAt;
      this.spec.observer.queueWait(queueMs / 1000);
      settle(p, { outputs: mine, timing: { queueUs: Math.round(queueMs * 1000), runUs, batchRows, dispatchedAt, inline } });
    }
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

  private checkDrained(): void {
    if (!this.closed || this.inflight > 0 || this.queuedRowsCount > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private drop(p: Pending, now: number): boolean {
    if (p.ctx.cancelled) {
      p.taken = true;
      this.queuedRowsCount -= p.rows;
      this.stats.cancelledDropped++;
      this.spec.observer.dropped('cancelled');
      settle(p, cancelled('the call was cancelled'));
      return true;
    }
    if (p.ctx.deadline <= now) {
      p.taken = true;
      this.queuedRowsCount -= p.rows;
      this.stats.deadlineDropped++;
      this.spec.observer.dropped('deadline');
      settle(p, deadlineExceeded(`deadline exceeded after ${Math.round(now - p.enqueuedAt)} ms in the ${this.spec.label} queue`));
      return true;
    }
    const waited = now - p.enqueuedAt;
    if (this.limits.maxQueueWaitMs > 0 && waited > this.limits.maxQueueWaitMs) {
      p.taken = true;
      this.queuedRowsCount -= p.rows;
      this.noteWait(waited, now);
      this.stats.shed++;
      this.spec.observer.dropped('shed');
      settle(
        p,
        queueFull(
          `${this.spec.label}: waited ${Math.round(waited)} ms in the queue, over maxQueueWaitMs ${this.limits.maxQueueWaitMs}; retry later`,
          this.limits.retryPushbackMs,
        ),
      );
      return true;
    }
    return false;
  }

  private skipTaken(now: number): void {
    while (this.head < this.queue.length) {
      const p = this.queue[this.head] as Pending;
      if (!p.taken && !this.drop(p, now)) break;
      this.head++;
    }
    this.compact();
    this.checkDrained();
  }

  private compact(): void {
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}

const noop = (): void => undefined;

/**
 * Hands batches to the pool, round-robin over the model versions that have work. A new
 * request does not go out synchronously: the scheduler runs once per event-loop turn
 * (setImmediate), after every request that arrived in that turn has been queued, so
 * simultaneous arrivals share a batch. When a batch finishes, the next one goes out at once.
 */
export class BatchScheduler {
  private ready: Batcher[] = [];
  private pumping = false;
  private pumpScheduled = false;
  private inlineInflight = 0;
  /** Requests submitted and not yet settled, across every model version. */
  private outstanding = 0;
  /**
   * Average of `outstanding` seen by arriving requests (EWMA): near 0 when clients wait for
   * each answer, large under concurrent load even at the instant a burst begins, when the
   * pool happens to be idle. The inline lane is only for the former.
   */
  private load = 0;
  private lastArrival = 0;

  constructor(private readonly pool: InferencePool) {
    pool.onSlotFree(() => this.pump());
  }

  /** Counts an arriving request; true when traffic has been light enough for the inline lane. */
  arrive(): boolean {
    // The average also fades with time, so a lone request after a busy spell is soon calm.
    const now = performance.now();
    this.load *= Math.exp(-(now - this.lastArrival) / LOAD_DECAY_MS);
    this.lastArrival = now;
    this.load = this.load * 0.9 + this.outstanding * 0.1;
    this.outstanding++;
    return this.load < 0.5;
  }

  depart(): void {
    this.outstanding--;
  }

  /** True when no batch is queued, on a worker or on the inline lane. */
  idle(): boolean {
    return this.pool.inflight === 0 && this.inlineInflight === 0 && this.ready.length === 0;
  }

  /** Runs a request on the inline lane; one at a time, so it cannot hog the main thread. */
  runInline(batcher: Batcher, p: Pending): void {
    this.inlineInflight++;
    batcher
      .executeInline(p)
      .catch(() => undefined)
      .finally(() => {
        this.inlineInflight--;
        this.pump();
      });
  }

  notify(batcher: Batcher): void {
    if (!batcher.scheduled) {
      batcher.scheduled = true;
      this.ready.push(batcher);
    }
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      setImmediate(this.pumpFromTimer);
    }
  }

  private readonly pumpFromTimer = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.ready.length > 0 && this.pool.hasFreeSlot()) {
        const b = this.ready.shift() as Batcher;
        b.scheduled = false;
        // null: nothing to send now; a pending maxQueueDelay timer notifies again.
        const batch = b.takeBatch();
        if (batch === null) continue;
        // execute() settles every request itself; the catch only guards against a bug.
        b.execute(batch, this.pool).catch(() => undefined);
        if (b.hasWork()) {
          b.scheduled = true;
          this.ready.push(b);
        }
      }
    } finally {
      this.pumping = false;
    }
  }
}
