/**
 * Server-side dynamic batching. Each loaded model version has a Batcher: a bounded queue of
 * validated requests. The BatchScheduler hands batches to the worker pool whenever it has a
 * free slot, round-robin across model versions. A batch takes queued requests in order up
 * to `maxBatchRows`, so under load batches grow by themselves while at concurrency 1 a
 * request goes out at once (no timer unless `maxQueueDelayUs` > 0). Requests that were
 * cancelled or whose deadline passed are dropped before inference.
 */
import type { CallContext } from './context.js';
import { cancelled, deadlineExceeded, inferenceFailed, queueFull, unavailable } from './errors.js';
import type { InlineRunner } from './inline-runner.js';
import type { InferencePool } from './pool.js';
import type { ServingSignature } from './signature.js';
import { concatRows, type HostTensor, sliceRows, type TypedData } from './tensor.js';
import type { WireTensor } from './worker-protocol.js';

export interface BatchLimits {
  readonly maxBatchRows: number;
  readonly maxQueueRows: number;
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
}

export interface BatchOutcome {
  /** In the signature's output order, this request's rows only. */
  readonly outputs: readonly HostTensor[];
  readonly timing: Timing;
}

interface Pending {
  readonly tensors: readonly HostTensor[];
  readonly rows: number;
  readonly enqueuedAt: number;
  readonly ctx: CallContext;
  readonly fault: 'exit' | 'throw' | undefined;
  readonly resolve: (outcome: BatchOutcome) => void;
  readonly reject: (err: Error) => void;
  settled: boolean;
}

export interface BatcherSpec {
  readonly key: string;
  readonly path: string;
  readonly label: string;
  readonly signature: ServingSignature;
}

const nowMs = (): number => performance.timeOrigin + performance.now();

/** The largest request the inline lane takes; bigger ones are worth a worker. */
const INLINE_MAX_ROWS = 8;

function owned(data: TypedData): TypedData {
  // Transferring a view would detach the whole underlying buffer (for example a pooled
  // Buffer slab holding other requests): copy views, transfer only whole buffers.
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : (data.slice() as TypedData);
}

export class Batcher {
  private queue: Pending[] = [];
  private head = 0;
  private queuedRowsCount = 0;
  private inflight = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private drainWaiters: Array<() => void> = [];
  private inline: InlineRunner | null = null;
  scheduled = false;

  constructor(
    readonly spec: BatcherSpec,
    private readonly scheduler: BatchScheduler,
    private readonly limits: BatchLimits,
  ) {}

  get queuedRows(): number {
    return this.queuedRowsCount;
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

  get inflightBatches(): number {
    return this.inflight;
  }

  /** Queues a validated request; rejects at once with RESOURCE_EXHAUSTED when full. */
  submit(tensors: readonly HostTensor[], rows: number, ctx: CallContext, fault?: 'exit' | 'throw'): Promise<BatchOutcome> {
    if (this.closed) return Promise.reject(unavailable(`${this.spec.label} is being unloaded`));
    if (this.queuedRowsCount + rows > this.limits.maxQueueRows && this.queuedRowsCount > 0) {
      return Promise.reject(
        queueFull(
          `${this.spec.label}: queue full (${this.queuedRowsCount} rows waiting, limit ${this.limits.maxQueueRows}); retry later`,
          this.limits.retryPushbackMs,
        ),
      );
    }
    return new Promise<BatchOutcome>((resolve, reject) => {
      const pending: Pending = { tensors, rows, enqueuedAt: nowMs(), ctx, fault, resolve, reject, settled: false };
      this.queue.push(pending);
      this.queuedRowsCount += rows;
      ctx.onCancel(() => {
        if (pending.settled) return;
        // Still queued (not yet sent to a worker): free its queue slot now.
        if (this.queue.indexOf(pending, this.head) >= 0) {
          pending.settled = true;
          this.queuedRowsCount -= pending.rows;
          reject(cancelled('the call was cancelled'));
        }
      });
      this.scheduler.notify(this);
    });
  }

  hasWork(): boolean {
    return this.queuedRowsCount > 0;
  }

  /**
   * Takes the next batch, or null when there is nothing to send or a partial batch
   * should wait (`maxQueueDelayUs`); in that case a timer re-notifies the scheduler.
   */
  takeBatch(): Pending[] | null {
    const now = nowMs();
    this.skipSettled(now);
    if (this.head >= this.queue.length) return null;
    const delayMs = this.limits.maxQueueDelayUs / 1000;
    if (delayMs > 0 && this.spec.signature.batchable && this.queuedRowsCount < this.limits.maxBatchRows && !this.closed) {
      const oldest = this.queue[this.head] as Pending;
      let flushAt = oldest.enqueuedAt + delayMs;
      for (let i = this.head; i < this.queue.length; i++) {
        flushAt = Math.min(flushAt, (this.queue[i] as Pending).ctx.deadline);
      }
      if (now < flushAt) {
        this.timer ??= setTimeout(() => {
          this.timer = undefined;
          this.scheduler.notify(this);
        }, flushAt - now);
        return null;
      }
    }
    const batch: Pending[] = [];
    let rows = 0;
    while (this.head < this.queue.length) {
      const p = this.queue[this.head] as Pending;
      if (p.settled || this.drop(p, now)) {
        this.head++;
        continue;
      }
      if (batch.length > 0 && (!this.spec.signature.batchable || rows + p.rows > this.limits.maxBatchRows)) break;
      this.head++;
      p.settled = true;
      this.queuedRowsCount -= p.rows;
      batch.push(p);
      rows += p.rows;
    }
    this.compact();
    return batch.length === 0 ? null : batch;
  }

  /** Runs a batch taken by takeBatch on the pool and settles its requests. */
  async execute(batch: Pending[], pool: InferencePool): Promise<void> {
    this.inflight++;
    const dispatchedAt = nowMs();
    try {
      const sig = this.spec.signature;
      const inputs: WireTensor[] = sig.inputs.map((spec, i) => {
        const t = concatRows(batch.map((p) => p.tensors[i] as HostTensor));
        return { name: spec.name, dtype: t.dtype, dims: t.dims, data: owned(t.data) };
      });
      const fault = batch.find((p) => p.fault !== undefined)?.fault;
      let result;
      try {
        result = await pool.run({
          key: this.spec.key,
          path: this.spec.path,
          inputs,
          outputNames: sig.outputs.map((o) => o.name),
          ...(fault === undefined ? {} : { fault }),
        });
      } catch (err) {
        const error = inferenceFailed(`inference failed for ${this.spec.label}`, err);
        for (const p of batch) p.reject(error);
        return;
      }
      this.settle(batch, result.outputs, dispatchedAt, result.runUs, inputs[0]?.dims[0] ?? 1);
    } finally {
      this.inflight--;
      this.checkDrained();
    }
  }

  /** Whether a batch may take the inline lane instead of a worker. */
  canRunInline(batch: readonly Pending[]): boolean {
    return (
      this.inline !== null &&
      batch.length === 1 &&
      (batch[0] as Pending).rows <= INLINE_MAX_ROWS &&
      (batch[0] as Pending).fault === undefined
    );
  }

  /** Runs a one-request batch on the main thread's session (the inline lane). */
  async executeInline(batch: Pending[]): Promise<void> {
    this.inflight++;
    const dispatchedAt = nowMs();
    try {
      const p = batch[0] as Pending;
      let outputs: HostTensor[];
      try {
        outputs = await (this.inline as InlineRunner).run(p.tensors);
      } catch (err) {
        p.reject(inferenceFailed(`inference failed for ${this.spec.label}`, err));
        return;
      }
      this.settle(batch, outputs, dispatchedAt, Math.round((nowMs() - dispatchedAt) * 1000), p.rows);
    } finally {
      this.inflight--;
      this.checkDrained();
    }
  }

  private settle(batch: Pending[], outputs: readonly HostTensor[], dispatchedAt: number, runUs: number, batchRows: number): void {
    let offset = 0;
    for (const p of batch) {
      const mine = outputs.map((o) => (batch.length === 1 || o.dims[0] !== batchRows ? o : sliceRows(o, offset, offset + p.rows)));
      offset += p.rows;
      p.resolve({ outputs: mine, timing: { queueUs: Math.round((dispatchedAt - p.enqueuedAt) * 1000), runUs, batchRows } });
    }
  }

  /** Stops taking requests; resolves once everything queued and in flight has settled. */
  drain(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
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
      p.settled = true;
      this.queuedRowsCount -= p.rows;
      p.reject(cancelled('the call was cancelled'));
      return true;
    }
    if (p.ctx.deadline <= now) {
      p.settled = true;
      this.queuedRowsCount -= p.rows;
      p.reject(deadlineExceeded(`deadline exceeded after ${Math.round(now - p.enqueuedAt)} ms in the ${this.spec.label} queue`));
      return true;
    }
    return false;
  }

  private skipSettled(now: number): void {
    while (this.head < this.queue.length) {
      const p = this.queue[this.head] as Pending;
      if (!p.settled && !this.drop(p, now)) break;
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

  constructor(private readonly pool: InferencePool) {
    pool.onSlotFree(() => this.pump());
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
        // A lone small request with every worker idle and nothing else waiting: a worker
        // round trip would only add latency, so it takes the inline lane.
        if (this.pool.inflight === 0 && this.ready.length === 0 && !b.hasWork() && b.canRunInline(batch)) {
          void b.executeInline(batch);
          continue;
        }
        void b.execute(batch, this.pool);
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
