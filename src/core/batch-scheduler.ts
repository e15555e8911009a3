/**
 * The scheduler shared by every model version's Batcher: it hands batches to the worker pool
 * whenever it has a free slot, and decides when the inline lane may be used.
 */
import type { Batcher } from './batcher.js';
import type { InferencePool } from './pool.js';

/** How fast the load estimate fades when no request arrives (time constant, ms). */
const LOAD_DECAY_MS = 2;

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
  /** Requests submitted and not yet settled, across every model version. */
  private outstanding = 0;
  /**
   * Average of `outstanding` seen by arriving requests (EWMA): near 0 when clients wait for
   * each answer, large under concurrent load even at the instant a burst begins, when the
   * pool happens to be idle. The inline lane is only for the former.
   */
  private load = 0;
  private lastArrival = 0;
  /**
   * Requests that arrived in this event-loop turn. The inline lane answers synchronously, so
   * `outstanding` alone stays 0 under concurrent load; requests read from the sockets in
   * the same turn are concurrent all the same, and count as load.
   */
  private arrivalsThisTurn = 0;
  private turnEndScheduled = false;

  constructor(private readonly pool: InferencePool) {
    pool.onSlotFree(() => this.pump());
  }

  /** Counts an arriving request; true when traffic has been light enough for the inline lane. */
  arrive(): boolean {
    // The average also fades with time, so a lone request after a busy spell is soon calm.
    const now = performance.now();
    this.load *= Math.exp(-(now - this.lastArrival) / LOAD_DECAY_MS);
    this.lastArrival = now;
    this.load = this.load * 0.9 + (this.outstanding + this.arrivalsThisTurn) * 0.1;
    this.outstanding++;
    this.arrivalsThisTurn++;
    if (!this.turnEndScheduled) {
      this.turnEndScheduled = true;
      setImmediate(this.endTurn);
    }
    return this.load < 0.5;
  }

  private readonly endTurn = (): void => {
    this.turnEndScheduled = false;
    this.arrivalsThisTurn = 0;
  };

  depart(): void {
    this.outstanding--;
  }

  /** Batches that can run at once: one per worker. */
  parallelism(): number {
    return this.pool.workers;
  }

  /** True when no batch is queued or on a worker. */
  idle(): boolean {
    return this.pool.inflight === 0 && this.ready.length === 0;
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
