/**
 * One model version's queue of validated requests, in arrival order. Requests that were
 * cancelled, whose deadline passed or that waited over maxQueueWaitMs are dropped here, before
 * inference; the rest leave in batches (takeBatch).
 */
import type { Admission } from './admission.js';
import { type BatcherSpec, type BatcherStats, type BatchLimits, countDrop, type Drop, type Pending, settle } from './batch-types.js';
import { cancelled, deadlineExceeded, queueFull } from './errors.js';

/** A delayed partial batch leaves this long before its earliest deadline. */
const DEADLINE_MARGIN_MS = 2;

export class PendingQueue {
  /** Requests from `head` on are queued unless `taken` (taken ones are skipped lazily). */
  private items: Pending[] = [];
  private head = 0;
  private queuedRows = 0;

  constructor(
    private readonly spec: BatcherSpec,
    private readonly limits: BatchLimits,
    private readonly admission: Admission,
    private readonly stats: BatcherStats,
  ) {}

  /** Rows queued and not yet taken. */
  get rows(): number {
    return this.queuedRows;
  }

  add(p: Pending): void {
    this.items.push(p);
    this.queuedRows += p.rows;
  }

  /**
   * Count, drop and settle: takes a still-queued request out of the queue, counts why and
   * rejects it. The one way a queued request leaves without running.
   */
  drop(p: Pending, drop: Drop): void {
    p.taken = true;
    this.queuedRows -= p.rows;
    countDrop(this.spec, this.stats, drop.reason);
    settle(p, drop.error);
  }

  /** Drops what is taken or expired at the head; true when a request is left to send. */
  skipToLive(now: number): boolean {
    while (this.head < this.items.length) {
      const p = this.items[this.head] as Pending;
      if (!p.taken && !this.dropIfExpired(p, now)) break;
      this.head++;
    }
    this.compact();
    return this.head < this.items.length;
  }

  /**
   * When a partial batch must leave: `delayMs` after the oldest request arrived, or just
   * before the earliest deadline in the queue if that is sooner.
   */
  flushAt(delayMs: number): number {
    const oldest = this.items[this.head] as Pending;
    let flushAt = oldest.enqueuedAt + delayMs;
    for (let i = this.head; i < this.items.length; i++) {
      const p = this.items[i] as Pending;
      if (!p.taken) flushAt = Math.min(flushAt, p.ctx.deadline - DEADLINE_MARGIN_MS);
    }
    return flushAt;
  }

  /**
   * Takes queued requests in order up to `maxRows`; only requests whose non-batch dimensions
   * agree (same shapeKey) share a batch, and a model that is not batchable takes one at a time.
   * Expired requests met on the way are dropped. Empty when nothing is left.
   */
  takeBatch(now: number, maxRows: number, batchable: boolean): Pending[] {
    const batch: Pending[] = [];
    let rows = 0;
    let shapeKey = '';
    while (this.head < this.items.length) {
      const p = this.items[this.head] as Pending;
      if (p.taken || this.dropIfExpired(p, now)) {
        this.head++;
        continue;
      }
      if (batch.length > 0 && (!batchable || rows + p.rows > maxRows || p.shapeKey !== shapeKey)) break;
      this.head++;
      p.taken = true;
      p.offCancel();
      this.queuedRows -= p.rows;
      this.admission.noteWait(now - p.enqueuedAt, now);
      if (batch.length === 0) shapeKey = p.shapeKey;
      batch.push(p);
      rows += p.rows;
    }
    this.compact();
    return batch;
  }

  /** Drops `p` when it was cancelled, its deadline passed or it waited over maxQueueWaitMs. */
  private dropIfExpired(p: Pending, now: number): boolean {
    const drop = this.expiry(p, now);
    if (drop === undefined) return false;
    this.drop(p, drop);
    return true;
  }

  private expiry(p: Pending, now: number): Drop | undefined {
    if (p.ctx.cancelled) return { reason: 'cancelled', error: cancelled('the call was cancelled') };
    if (p.ctx.deadline <= now) {
      return {
        reason: 'deadline',
        error: deadlineExceeded(`deadline exceeded after ${Math.round(now - p.enqueuedAt)} ms in the ${this.spec.label} queue`),
      };
    }
    const waited = now - p.enqueuedAt;
    if (this.limits.maxQueueWaitMs > 0 && waited > this.limits.maxQueueWaitMs) {
      // Its wait counts toward the standing-queue state too (see Admission.noteWait).
      this.admission.noteWait(waited, now);
      return {
        reason: 'shed',
        error: queueFull(
          `${this.spec.label}: waited ${Math.round(waited)} ms in the queue, over maxQueueWaitMs ${this.limits.maxQueueWaitMs}; retry later`,
          this.limits.retryPushbackMs,
        ),
      };
    }
    return undefined;
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
