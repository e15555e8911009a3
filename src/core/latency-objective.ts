/**
 * SLO-aware batching for a model version with a latency objective (`latencyTargetMs`, for the
 * 99th percentile): from the learnt run-time line (run-cost.ts) it chooses how many rows a
 * batch takes and how long a partial batch may wait for more, and it refuses at once the
 * requests that the queue ahead of them would make late.
 *
 * The reasoning, for a batch of B rows whose run takes run(B): a request arriving at a busy
 * version waits at most for the batch running now and then rides the next one, so it is
 * answered within about 2 × run(B). B is therefore the largest batch with 2 × run(B) within
 * the objective (bigger batches run more rows per second, so the largest that fits is the
 * fastest safe one). What the objective leaves beyond 2 × run(B) may be spent holding a
 * partial batch for rows that are about to arrive, and while every worker is busy a partial
 * batch stays queued (it would only wait at a worker; queued, it can still grow). A new
 * request is refused when the work ahead of it, spread over the workers, would finish after
 * the objective.
 */
import type { Drop } from './batch-types.js';
import { queueFull } from './errors.js';
import type { RunCostModel } from './run-cost.js';

/** Time constant of the arrival-rate estimate, ms. */
const RATE_WINDOW_MS = 500;

export interface BatchPlan {
  /** Rows the next batch may take. */
  readonly rows: number;
  /** How long a partial batch may wait for more rows, ms (0: send at once). */
  readonly holdMs: number;
}

export class LatencyObjective {
  /** Rows arriving per ms (decaying average). */
  private rate = 0;
  private lastArrival = 0;

  constructor(
    private readonly label: string,
    /** The objective, ms. */
    readonly targetMs: number,
    private readonly cost: RunCostModel,
    private readonly maxBatchRows: number,
    /** Batches that can run at once (the pool's workers). */
    private readonly parallelism: () => number,
    private readonly retryPushbackMs: number,
  ) {}

  /** Counts arriving rows, for the hold decision. */
  noteArrival(rows: number, now: number): void {
    const dt = Math.max(0, now - this.lastArrival);
    this.lastArrival = now;
    this.rate = this.rate * Math.exp(-dt / RATE_WINDOW_MS) + rows / RATE_WINDOW_MS;
  }

  /** The batch size and hold for a queue of `queuedRows` (see the file comment). */
  plan(queuedRows: number): BatchPlan {
    const targetUs = this.targetMs * 1000;
    const rows = this.cost.rowsWithin(targetUs / 2, this.maxBatchRows);
    if (queuedRows >= rows || this.rate <= 0) return { rows, holdMs: 0 };
    const slackMs = (targetUs - 2 * this.cost.estimateUs(rows)) / 1000;
    // Hold only when at least one more row is expected within the slack, and no longer than
    // the batch takes to fill at the current rate.
    if (slackMs <= 0 || this.rate * slackMs < 1) return { rows, holdMs: 0 };
    return { rows, holdMs: Math.min(slackMs, (rows - queuedRows) / this.rate) };
  }

  /**
   * A refusal for a request of `rows` arriving behind `queuedRows` queued rows and
   * `runningBatches` batches of `runningRows` rows on workers, when it would be answered after
   * the objective: the estimated work ahead of it and its own (the running batches counted
   * whole, the queue in batches of the planned size), spread over the workers.
   */
  refusal(rows: number, queuedRows: number, runningBatches: number, runningRows: number): Drop | undefined {
    if (queuedRows === 0 && runningBatches === 0) return undefined;
    const { rows: batchRows } = this.plan(queuedRows + rows);
    const queuedBatches = Math.ceil((queuedRows + rows) / batchRows);
    const workUs = this.cost.workUs(runningBatches, runningRows) + this.cost.workUs(queuedBatches, queuedRows + rows);
    const finishMs = workUs / 1000 / Math.max(1, this.parallelism());
    if (finishMs <= this.targetMs) return undefined;
    return {
      reason: 'shed',
      error: queueFull(
        `${this.label}: a new request would be answered in about ${Math.round(finishMs)} ms, over its latency objective of ${this.targetMs} ms (latencyTargetMs); retry later`,
        this.retryPushbackMs,
      ),
    };
  }

  /**
   * Whether a partial batch should stay queued because every worker is busy: handed out now
   * it would only wait at a worker, while in the queue it can still grow to the planned size.
   */
  holdWhileBusy(queuedRows: number, runningBatches: number): boolean {
    return runningBatches >= Math.max(1, this.parallelism()) && queuedRows < this.plan(queuedRows).rows;
  }
}
