/** Per model version statistics for /stats and GetStats: counts, latency percentiles, prediction mix. */
import { Code } from '../core/errors.js';

/** Latencies kept for the percentiles (the most recent ones). */
const LATENCY_WINDOW = 4096;
/** Distinct prediction values counted before the rest are lumped together. */
const MAX_PREDICTION_VALUES = 64;

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
    return {
      requests: this.requests,
      errors: this.errors,
      errorRate: this.requests === 0 ? 0 : this.errors / this.requests,
      errorsByCode: Object.fromEntries([...this.errorsByCode].map(([c, v]) => [Code[c] ?? String(c), v])),
      latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), samples: n },
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
