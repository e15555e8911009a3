/** The target ratios under the table: Quiver against the echo ceiling, the naive servers and raw onnxruntime, with their goals. */
import type { Row } from './measure.js';
import { BATCH_ROWS } from './options.js';

export interface Target {
  readonly name: string;
  readonly value: number;
  /** '' for a ratio recorded for reference, with no goal. */
  readonly goal: string;
  readonly ok: (v: number) => boolean;
}

const ratio = (a: number | null | undefined, b: number | null | undefined): number => (a == null || b == null ? NaN : a / b);

/** The rows the ratios compare, found by their target's label. */
function comparedRows(rows: readonly Row[]) {
  const at = (target: string, c: number): Row | undefined => rows.find((r) => r.target.startsWith(target) && r.concurrency === c);
  const best = (prefix: string): number => Math.max(...rows.filter((r) => r.target.startsWith(prefix)).map((r) => r.rowsPerSecond));
  return {
    echo64: at('(b)', 64),
    quiver64: at('(c)', 64),
    echo1: at('(b)', 1),
    quiver1: at('(c)', 1),
    naive64: at('(b2)', 64),
    naiveRest64: at('(e)', 64),
    metricsOn: rows.find((r) => r.target.startsWith('(g) Quiver Predict, metrics on, tracing off')),
    metricsOff: rows.find((r) => r.target.startsWith('(g) Quiver Predict, metrics off')),
    tracingSampled: rows.find((r) => r.target.startsWith('(g) Quiver Predict, metrics on, tracing on (OTLP, 1%')),
    tracingAll: rows.find((r) => r.target.startsWith('(g) Quiver Predict, metrics on, tracing on (OTLP, every call')),
    gateway64: at('(f)', 64),
    bestBatch: best('(d)'),
    bestBatchEcho: best('(b) grpc-js echo, dense'),
  };
}

/** A ratio with a goal of at least `min`. */
const atLeast = (name: string, value: number, min: number): Target => ({ name, value, goal: `>= ${min.toFixed(2)}`, ok: (v) => v >= min });

/** A ratio with a goal of at most `max`. */
const atMost = (name: string, value: number, max: number): Target => ({ name, value, goal: `<= ${max.toFixed(2)}`, ok: (v) => v <= max });

/** A ratio recorded for reference; `goal` is an expectation shown beside it, never checked. */
const reference = (name: string, value: number, goal = ''): Target => ({ name, value, goal, ok: () => true });

/** The ratios measured in `rows`; `rawBatch` is raw onnxruntime's rows/s at batch BATCH_ROWS. */
export function targetRatios(rows: readonly Row[], rawBatch: number): Target[] {
  const r = comparedRows(rows);
  return [
    atLeast('Predict req/s at c=64 vs echo', ratio(r.quiver64?.requestsPerSecond, r.echo64?.requestsPerSecond), 0.8),
    reference(
      'naive server req/s at c=64 vs echo (for reference)',
      ratio(r.naive64?.requestsPerSecond, r.echo64?.requestsPerSecond),
      '(about 0.67)',
    ),
    atMost('Predict p50 at c=1 vs echo p50', ratio(r.quiver1?.p50Us, r.echo1?.p50Us), 1.5),
    atLeast(`BatchPredict rows/s (best c) vs raw onnxruntime batch ${BATCH_ROWS}`, ratio(r.bestBatch, rawBatch), 0.3),
    reference(
      `echo of the same ${BATCH_ROWS}-row messages vs raw onnxruntime (the transport's own ceiling, for reference)`,
      ratio(r.bestBatchEcho, rawBatch),
    ),
    reference('BatchPredict rows/s vs that echo (best c each)', ratio(r.bestBatch, r.bestBatchEcho)),
    atLeast(
      'Predict req/s at c=64, metrics on vs off (their cost)',
      ratio(r.metricsOn?.requestsPerSecond, r.metricsOff?.requestsPerSecond),
      0.95,
    ),
    atLeast(
      'Predict req/s at c=64, tracing on (1% sampled, the default) vs off (its cost)',
      ratio(r.tracingSampled?.requestsPerSecond, r.metricsOn?.requestsPerSecond),
      0.95,
    ),
    reference(
      'Predict req/s at c=64, tracing every call vs off (for reference)',
      ratio(r.tracingAll?.requestsPerSecond, r.metricsOn?.requestsPerSecond),
    ),
    atLeast(
      'REST gateway req/s at c=64 vs the naive REST server',
      ratio(r.gateway64?.requestsPerSecond, r.naiveRest64?.requestsPerSecond),
      1,
    ),
    atMost('REST gateway p99 at c=64 vs the naive REST server (lower is better)', ratio(r.gateway64?.p99Us, r.naiveRest64?.p99Us), 1),
  ];
}
