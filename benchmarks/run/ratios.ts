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

/** The ratios measured in `rows`; `rawBatch` is raw onnxruntime's rows/s at batch BATCH_ROWS. */
export function targetRatios(rows: readonly Row[], rawBatch: number): Target[] {
  const r = comparedRows(rows);
  return [
    {
      name: 'Predict req/s at c=64 vs echo',
      value: ratio(r.quiver64?.requestsPerSecond, r.echo64?.requestsPerSecond),
      goal: '>= 0.80',
      ok: (v: number) => v >= 0.8,
    },
    {
      name: 'naive server req/s at c=64 vs echo (for reference)',
      value: ratio(r.naive64?.requestsPerSecond, r.echo64?.requestsPerSecond),
      goal: '(about 0.67)',
      ok: () => true,
    },
    {
      name: 'Predict p50 at c=1 vs echo p50',
      value: ratio(r.quiver1?.p50Us, r.echo1?.p50Us),
      goal: '<= 1.50',
      ok: (v: number) => v <= 1.5,
    },
    {
      name: `BatchPredict rows/s (best c) vs raw onnxruntime batch ${BATCH_ROWS}`,
      value: ratio(r.bestBatch, rawBatch),
      goal: '>= 0.30',
      ok: (v: number) => v >= 0.3,
    },
    {
      name: `echo of the same ${BATCH_ROWS}-row messages vs raw onnxruntime (the transport's own ceiling, for reference)`,
      value: ratio(r.bestBatchEcho, rawBatch),
      goal: '',
      ok: () => true,
    },
    { name: 'BatchPredict rows/s vs that echo (best c each)', value: ratio(r.bestBatch, r.bestBatchEcho), goal: '', ok: () => true },
    {
      name: 'Predict req/s at c=64, metrics on vs off (their cost)',
      value: ratio(r.metricsOn?.requestsPerSecond, r.metricsOff?.requestsPerSecond),
      goal: '>= 0.95',
      ok: (v: number) => v >= 0.95,
    },
    {
      name: 'Predict req/s at c=64, tracing on (1% sampled, the default) vs off (its cost)',
      value: ratio(r.tracingSampled?.requestsPerSecond, r.metricsOn?.requestsPerSecond),
      goal: '>= 0.95',
      ok: (v: number) => v >= 0.95,
    },
    {
      name: 'Predict req/s at c=64, tracing every call vs off (for reference)',
      value: ratio(r.tracingAll?.requestsPerSecond, r.metricsOn?.requestsPerSecond),
      goal: '',
      ok: () => true,
    },
    {
      name: 'REST gateway req/s at c=64 vs the naive REST server',
      value: ratio(r.gateway64?.requestsPerSecond, r.naiveRest64?.requestsPerSecond),
      goal: '>= 1.00',
      ok: (v: number) => v >= 1,
    },
    {
      name: 'REST gateway p99 at c=64 vs the naive REST server (lower is better)',
      value: ratio(r.gateway64?.p99Us, r.naiveRest64?.p99Us),
      goal: '<= 1.00',
      ok: (v: number) => v <= 1,
    },
  ];
}
