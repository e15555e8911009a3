/**
 * What a rollout compares per version and replica: calls, failures, and their latencies in
 * log-spaced buckets (each 10% wider than the last, from 10 µs), fine enough that a p99 read
 * from them is within 10% of the true one. Tallies are plain counts, so the replicas' add up:
 * each replica writes its own to the registry's database, and the analysis sums them.
 */
const FIRST_S = 1e-5;
const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);
/** Buckets up to about 100 s; slower calls land in the last. */
const BUCKETS = Math.ceil(Math.log(100 / FIRST_S) / LOG_GROWTH) + 1;

/** The bucket of a latency: bucket i holds (FIRST_S * GROWTH^(i-1), FIRST_S * GROWTH^i]. */
export function bucketOf(seconds: number): number {
  if (!(seconds > FIRST_S)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(seconds / FIRST_S) / LOG_GROWTH));
}

/** The upper edge of a bucket, seconds. */
export const upperEdge = (bucket: number): number => FIRST_S * GROWTH ** bucket;

export class LatencyTally {
  /** Counts by bucket index (sparse: most buckets stay empty). */
  readonly counts = new Map<number, number>();
  count = 0;

  observe(seconds: number): void {
    const b = bucketOf(seconds);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.count++;
  }

  add(other: LatencyTally): void {
    for (const [b, n] of other.counts) this.counts.set(b, (this.counts.get(b) ?? 0) + n);
    this.count += other.count;
  }

  /** The q-quantile, as the upper edge of the bucket it falls in (0 when empty). */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b) ?? 0;
      if (seen >= rank) return upperEdge(b);
    }
    return upperEdge(BUCKETS - 1);
  }

  /** Calls certainly slower than `seconds`: those in buckets whose lower edge is at or above it. */
  countAbove(seconds: number): number {
    let n = 0;
    for (const [b, c] of this.counts) if (b > 0 && upperEdge(b - 1) >= seconds) n += c;
    return n;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts].map(([b, n]) => [String(b), n]));
  }

  static fromJSON(json: unknown): LatencyTally {
    const t = new LatencyTally();
    if (json !== null && typeof json === 'object')
      for (const [b, n] of Object.entries(json as Record<string, unknown>)) {
        const bucket = Number(b);
        if (Number.isInteger(bucket) && bucket >= 0 && bucket < BUCKETS && typeof n === 'number' && n > 0) {
          t.counts.set(bucket, (t.counts.get(bucket) ?? 0) + n);
          t.count += n;
        }
      }
    return t;
  }
}

/** One version's tally on one replica. */
export class VersionTally {
  requests = 0;
  failures = 0;
  readonly latency = new LatencyTally();

  /** A call answered (ok) or failed by the server (not the caller's bad input), and its time. */
  record(ok: boolean, seconds: number | null): void {
    this.requests++;
    if (!ok) this.failures++;
    if (seconds !== null) this.latency.observe(seconds);
  }
}
