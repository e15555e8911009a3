/** Per model version statistics for /stats and GetStats: counts, latency percentiles, prediction mix. */
import { Code } from '../core/errors.js';

/** Latencies kept for the percentiles (the most recent ones). */
const LATENCY_WINDOW = 4096;
/** Distinct prediction values counted before the rest are lumped together. */
const MAX_PREDICTION_VALUES = 64;

/**
 * Upper bounds of the latency histogram, milliseconds: 50 µs to 10 s, log-spaced (the
 * Prometheus latency buckets, LATENCY_BUCKETS in metrics.ts, in milliseconds).
 */
export const LATENCY_HISTOGRAM_BOUNDS_MS: readonly number[] = Object.freeze([
  0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
]);

/** Upper bounds of the batch-size histogram, rows: the powers of two 1 to 4096 (2^0 to 2^12). */
export const BATCH_SIZE_HISTOGRAM_BOUNDS: readonly number[] = Object.freeze(Array.from({ length: 13 }, (_, i) => 2 ** i));
const LARGEST_BATCH_BOUND = BATCH_SIZE_HISTOGRAM_BOUNDS[BATCH_SIZE_HISTOGRAM_BOUNDS.length - 1] as number;

/**
 * A histogram for /stats: counts[i] values were <= upperBounds[i] and > upperBounds[i - 1].
 * Bounds are finite: values above the last fixed bound get one more bucket, bounded by the
 * largest of them (only when there were any).
 */
export interface HistogramSnapshot {
  readonly upperBounds: readonly number[];
  readonly counts: readonly number[];
}

/** The fixed buckets' counts, then the overflow bucket (above the last bound) when it is not empty. */
function histogram(bounds: readonly number[], counts: ArrayLike<number>, largest: number): HistogramSnapshot {
  const overflow = counts[bounds.length] as number;
  const fixed = Array.from({ length: bounds.length }, (_, i) => counts[i] as number);
  return overflow === 0 ? { upperBounds: [...bounds], counts: fixed } : { upperBounds: [...bounds, largest], counts: [...fixed, overflow] };
}

export interface VersionStatsSnapshot {
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly errorsByCode: Record<string, number>;
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly p99: number; readonly samples: number };
  /** Classifiers: answers per class; regressors: value summary. */
  readonly predictions: {
    readonly counts: Record<string, number>;
    readonly mean: number;
    readonly min: number;
    readonly max: number;
    readonly n: number;
  };
  /** Over the same calls as `latencyMs` (its counts sum to `latencyMs.samples`), bounds LATENCY_HISTOGRAM_BOUNDS_MS. */
  readonly latencyHistogramMs: HistogramSnapshot;
  /** Runs of the model (worker batches and inline runs, as `batches` counts them), bounds BATCH_SIZE_HISTOGRAM_BOUNDS. */
  readonly batchSizeHistogram: HistogramSnapshot;
  readonly batches: number;
  readonly batchRows: number;
  readonly inlineRuns: number;
  readonly dropped: Record<string, number>;
}

export class VersionStats {
  requests = 0;
  errors = 0;
  batches = 0;
  batchRows = 0;
  inlineRuns = 0;
  readonly errorsByCode = new Map<number, number>();
  readonly dropped = new Map<string, number>();
  /** Runs per batch-size bucket, the last slot for runs above 4096 rows. */
  private readonly batchSizeCounts = new Float64Array(BATCH_SIZE_HISTOGRAM_BOUNDS.length + 1);
  private largestBatch = 0;
  private readonly latencies = new Float64Array(LATENCY_WINDOW);
  private latencyCount = 0;
  private readonly predictionCounts = new Map<string, number>();
  private predSum = 0;
  private predN = 0;
  private predMin = Infinity;
  private predMax = -Infinity;

  request(code: number, seconds: number | null, rows: number): void {
    this.requests += rows;
    if (code !== Code.OK) {
      this.errors += rows;
      this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + rows);
    }
    if (seconds !== null) this.latencies[this.latencyCount++ % LATENCY_WINDOW] = seconds;
  }

  /**
   * One run of the model (a worker batch, or an inline run with `inline`) of `rows` rows: O(1),
   * no allocation.
   */
  batch(rows: number, inline: boolean): void {
    this.batches++;
    this.batchRows += rows;
    if (inline) this.inlineRuns++;
    // The bucket of the smallest power of two >= rows (rows <= 1: the first; above 4096: the overflow).
    const bucket = rows <= 1 ? 0 : rows > LARGEST_BATCH_BOUND ? BATCH_SIZE_HISTOGRAM_BOUNDS.length : 32 - Math.clz32(rows - 1);
    this.batchSizeCounts[bucket]!++;
    if (rows > this.largestBatch) this.largestBatch = rows;
  }

  prediction(value: number): void {
    this.predN++;
    this.predSum += value;
    if (value < this.predMin) this.predMin = value;
    if (value > this.predMax) this.predMax = value;
    const key = Number.isInteger(value) ? String(value) : undefined;
    if (key === undefined) return;
    if (this.predictionCounts.has(key) || this.predictionCounts.size < MAX_PREDICTION_VALUES) {
      this.predictionCounts.set(key, (this.predictionCounts.get(key) ?? 0) + 1);
    } else {
      this.predictionCounts.set('other', (this.predictionCounts.get('other') ?? 0) + 1);
    }
  }

  snapshot(): VersionStatsSnapshot {
    const n = Math.min(this.latencyCount, LATENCY_WINDOW);
    const sorted = Float64Array.from(this.latencies.subarray(0, n)).sort();
    const q = (p: number): number => (n === 0 ? 0 : (sorted[Math.min(n - 1, Math.floor(p * n))] as number) * 1000);
    // The window, sorted, walked once against the ascending bounds.
    const bounds = LATENCY_HISTOGRAM_BOUNDS_MS;
    const latencyCounts = new Array<number>(bounds.length + 1).fill(0);
    let bucket = 0;
    for (let i = 0; i < n; i++) {
      const ms = (sorted[i] as number) * 1000;
      while (bucket < bounds.length && ms > (bounds[bucket] as number)) bucket++;
      latencyCounts[bucket]!++;
    }
    return {
      requests: this.requests,
      errors: this.errors,
      errorRate: this.requests === 0 ? 0 : this.errors / this.requests,
      errorsByCode: Object.fromEntries([...this.errorsByCode].map(([c, v]) => [Code[c] ?? String(c), v])),
      latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), samples: n },
      latencyHistogramMs: histogram(bounds, latencyCounts, n === 0 ? 0 : (sorted[n - 1] as number) * 1000),
      batchSizeHistogram: histogram(BATCH_SIZE_HISTOGRAM_BOUNDS, this.batchSizeCounts, this.largestBatch),
      predictions: {
        counts: Object.fromEntries(this.predictionCounts),
        mean: this.predN === 0 ? 0 : this.predSum / this.predN,
        min: this.predN === 0 ? 0 : this.predMin,
        max: this.predN === 0 ? 0 : this.predMax,
        n: this.predN,
      },
      batches: this.batches,
      batchRows: this.batchRows,
      inlineRuns: this.inlineRuns,
      dropped: Object.fromEntries(this.dropped),
    };
  }
}
