/**
 * How a model version's batch run time grows with its rows, learnt online: run time ≈ fixed +
 * perRow × rows, a least-squares line over recent batches, each older batch weighing a
 * little less (exponential forgetting), so the line follows the machine as its load changes.
 * Written by hand: it is five running sums, and no small library does forgetting least squares.
 */

/** How much each earlier batch still weighs after one more arrives: about 50 batches remembered. */
const FORGET = 0.98;

/**
 * A batch counts at most this many times its estimate: a run whose thread was descheduled
 * midway (a busy machine, a GC pause on the main thread's lane) would otherwise swing the line
 * at once; a real change still moves it, by a few percent a batch.
 */
const MAX_OVER_ESTIMATE = 4;
/** ...and is never cut below this, µs: a line that fell near 0 can still climb back. */
const MIN_CUT_US = 100;

/** Below this spread of batch sizes (variance in rows², weighted) the slope is not trusted. */
const MIN_ROWS_VARIANCE = 0.5;

export class RunCostModel {
  private w = 0;
  private sx = 0;
  private sy = 0;
  private sxx = 0;
  private sxy = 0;
  /** A single-row run time measured at load (the warm-up), µs: the estimate until batches are seen. */
  private firstRowUs = 0;

  /** Sets the single-row run time measured at load. */
  prime(firstRowUs: number): void {
    this.firstRowUs = firstRowUs;
  }

  /** Folds in one batch: its rows and its run time, µs. */
  observe(rows: number, measuredUs: number): void {
    const runUs = this.w === 0 ? measuredUs : Math.min(measuredUs, Math.max(MIN_CUT_US, MAX_OVER_ESTIMATE * this.estimateUs(rows)));
    this.w = this.w * FORGET + 1;
    this.sx = this.sx * FORGET + rows;
    this.sy = this.sy * FORGET + runUs;
    this.sxx = this.sxx * FORGET + rows * rows;
    this.sxy = this.sxy * FORGET + rows * runUs;
  }

  /** The fitted line: µs per batch and µs per row, neither below 0. */
  line(): { fixedUs: number; perRowUs: number } {
    if (this.w === 0) return { fixedUs: 0, perRowUs: this.firstRowUs };
    const mx = this.sx / this.w;
    const my = this.sy / this.w;
    const varX = this.sxx / this.w - mx * mx;
    // Batches all of one size say nothing of the slope: assume no saving from batching (run
    // time proportional to rows), which errs towards small batches until sizes vary.
    if (varX < MIN_ROWS_VARIANCE) return { fixedUs: 0, perRowUs: my / Math.max(mx, 1) };
    const slope = (this.sxy / this.w - mx * my) / varX;
    if (slope <= 0) return { fixedUs: my, perRowUs: 0 };
    const intercept = my - slope * mx;
    // A negative intercept is noise around 0: keep the mean point, move the line through it.
    if (intercept < 0) return { fixedUs: 0, perRowUs: my / Math.max(mx, 1) };
    return { fixedUs: intercept, perRowUs: slope };
  }

  /** Estimated run time of a batch of `rows`, µs. */
  estimateUs(rows: number): number {
    const { fixedUs, perRowUs } = this.line();
    return fixedUs + perRowUs * rows;
  }

  /** Estimated run time of `batches` batches holding `rows` rows in all, µs. */
  workUs(batches: number, rows: number): number {
    const { fixedUs, perRowUs } = this.line();
    return batches * fixedUs + perRowUs * rows;
  }

  /** The most rows (1 to maxRows) whose estimated run time is within budgetUs; 1 when none is. */
  rowsWithin(budgetUs: number, maxRows: number): number {
    const { fixedUs, perRowUs } = this.line();
    if (perRowUs <= 0) return fixedUs <= budgetUs ? maxRows : 1;
    return Math.max(1, Math.min(maxRows, Math.floor((budgetUs - fixedUs) / perRowUs)));
  }
}
