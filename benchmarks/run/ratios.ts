/**
 * The targets under the table: Quiver against the echo ceiling, the naive servers and raw
 * onnxruntime, the overload section's refusals and goodput, and the monitoring cost, each with
 * its goal; a missed goal says by how much. Rows are found by their labels (a missing section's
 * targets read "not measured").
 */
import type { Row } from './measure.js';
import { MLP_NAME } from './mlp.js';
import { BATCH_ROWS, BIG_BATCH_ROWS } from './options.js';
import { OVERLOAD_MULTIPLIER, overloadLabels } from './overload-rows.js';
import { shadowTargets } from './shadow-cost.js';
import { sloBatchingTargets } from './slo-batching.js';
import { atLeast, atMost, ratio, reference, type Target } from './target.js';

/** The rows the targets compare, found by their labels. */
function comparedRows(rows: readonly Row[]) {
  const at = (target: string, c: number): Row | undefined => rows.find((r) => r.target.startsWith(target) && r.concurrency === c);
  const named = (target: string): Row | undefined => rows.find((r) => r.target.startsWith(target));
  const best = (prefix: string): number | undefined => {
    const matching = rows.filter((r) => r.target.startsWith(prefix)).map((r) => r.rowsPerSecond);
    return matching.length === 0 ? undefined : Math.max(...matching);
  };
  const overload = (model: string) => {
    const labels = overloadLabels(model);
    return { capacity: named(labels.capacity), sent: named(labels.sent), ok: named(labels.ok), refused: named(labels.refused) };
  };
  return {
    echo1: at('(b) grpc-js echo (transport ceiling)', 1),
    echo64: at('(b) grpc-js echo (transport ceiling)', 64),
    naive1: at('(b2)', 1),
    naive64: at('(b2)', 64),
    quiver1: at('(c)', 1),
    quiver64: at('(c)', 64),
    naiveRest1: at('(e)', 1),
    naiveRest64: at('(e)', 64),
    gateway1: at('(f)', 1),
    gateway64: at('(f)', 64),
    rawBatch: named(`(a) raw onnxruntime, batch ${BATCH_ROWS}`)?.rowsPerSecond,
    bestBatch: best(`(d) Quiver BatchPredict, dense ${BATCH_ROWS} rows`),
    bestBatchEcho: best(`(b) grpc-js echo, dense ${BATCH_ROWS}-row`),
    rawBigBatch: named(`(a) raw onnxruntime, batch ${BIG_BATCH_ROWS}`)?.rowsPerSecond,
    bestBigBatch: best(`(d) Quiver BatchPredict, dense ${BIG_BATCH_ROWS} rows`),
    bestBigBatchEcho: best(`(b) grpc-js echo, dense ${BIG_BATCH_ROWS}-row`),
    mlpNaive1: at(`(h) naive grpc-js + inline onnxruntime, ${MLP_NAME}`, 1),
    mlpNaive64: at(`(h) naive grpc-js + inline onnxruntime, ${MLP_NAME}`, 64),
    mlpQuiver1: at(`(h) Quiver Predict, ${MLP_NAME}`, 1),
    mlpQuiver64: at(`(h) Quiver Predict, ${MLP_NAME}`, 64),
    overloadDemo: overload('demo model'),
    overloadMlp: overload(MLP_NAME),
    metricsOn: named('(g) Quiver Predict, metrics on, tracing off'),
    metricsOff: named('(g) Quiver Predict, metrics off'),
    tracingSampled: named('(g) Quiver Predict, metrics on, tracing on (OTLP, 1%'),
    tracingAll: named('(g) Quiver Predict, metrics on, tracing on (OTLP, every call'),
  };
}

type Overload = ReturnType<typeof comparedRows>['overloadDemo'];

/**
 * Cheap refusal at OVERLOAD_MULTIPLIER x capacity: the refusals' p99, and goodput against
 * capacity; first, whether the load was really offered (as bench:overload checks it), without
 * which the other two say little.
 */
const overloadTargets = (model: string, o: Overload): Target[] => [
  atLeast(
    `${model}, ${OVERLOAD_MULTIPLIER}x overload: calls sent vs ${OVERLOAD_MULTIPLIER}x capacity (the load was really offered)`,
    ratio(o.sent?.requestsPerSecond, o.capacity?.requestsPerSecond == null ? null : o.capacity.requestsPerSecond * OVERLOAD_MULTIPLIER),
    0.9,
  ),
  {
    ...atMost(
      `${model}, ${OVERLOAD_MULTIPLIER}x overload: refusals (RESOURCE_EXHAUSTED) p99, ms`,
      o.refused?.p99Us == null ? NaN : o.refused.p99Us / 1000,
      20,
    ),
    ...(o.refused === undefined ? {} : { absent: 'none refused' }),
  },
  atLeast(
    `${model}, ${OVERLOAD_MULTIPLIER}x overload: answered OK per second vs capacity (goodput)`,
    ratio(o.ok?.requestsPerSecond, o.capacity?.requestsPerSecond),
    0.9,
  ),
];

/** The targets measured in `rows`. */
export function targetRatios(rows: readonly Row[]): Target[] {
  const r = comparedRows(rows);
  return [
    atLeast('Predict req/s at c=64 vs echo', ratio(r.quiver64?.requestsPerSecond, r.echo64?.requestsPerSecond), 0.8),
    reference(
      'naive server req/s at c=64 vs echo (for reference)',
      ratio(r.naive64?.requestsPerSecond, r.echo64?.requestsPerSecond),
      '(about 0.67)',
    ),
    atMost('Predict p50 at c=1 vs echo p50', ratio(r.quiver1?.p50Us, r.echo1?.p50Us), 1.3),
    atMost('Predict p50 at c=1 vs the naive gRPC server p50', ratio(r.quiver1?.p50Us, r.naive1?.p50Us), 1),
    atLeast(`BatchPredict rows/s (best c) vs raw onnxruntime batch ${BATCH_ROWS}`, ratio(r.bestBatch, r.rawBatch), 0.35),
    reference(
      `echo of the same ${BATCH_ROWS}-row messages vs raw onnxruntime (the transport's own ceiling, for reference)`,
      ratio(r.bestBatchEcho, r.rawBatch),
    ),
    reference(`BatchPredict rows/s vs that echo, ${BATCH_ROWS} rows (best c each)`, ratio(r.bestBatch, r.bestBatchEcho)),
    atLeast(`BatchPredict rows/s (best c) vs raw onnxruntime batch ${BIG_BATCH_ROWS}`, ratio(r.bestBigBatch, r.rawBigBatch), 0.5),
    reference(
      `echo of the same ${BIG_BATCH_ROWS}-row messages vs raw onnxruntime (for reference)`,
      ratio(r.bestBigBatchEcho, r.rawBigBatch),
    ),
    reference(`BatchPredict rows/s vs that echo, ${BIG_BATCH_ROWS} rows (best c each)`, ratio(r.bestBigBatch, r.bestBigBatchEcho)),
    reference(
      `${MLP_NAME}: Predict req/s at c=64 vs the naive gRPC server (for reference)`,
      ratio(r.mlpQuiver64?.requestsPerSecond, r.mlpNaive64?.requestsPerSecond),
    ),
    reference(`${MLP_NAME}: Predict p50 at c=1 vs the naive gRPC server (for reference)`, ratio(r.mlpQuiver1?.p50Us, r.mlpNaive1?.p50Us)),
    ...overloadTargets('demo model', r.overloadDemo),
    ...overloadTargets(MLP_NAME, r.overloadMlp),
    ...sloBatchingTargets(rows),
    ...shadowTargets(rows),
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
    atMost('REST gateway /predict p50 at c=1 vs the naive REST server', ratio(r.gateway1?.p50Us, r.naiveRest1?.p50Us), 1),
    atLeast(
      'REST gateway req/s at c=64 vs the naive REST server',
      ratio(r.gateway64?.requestsPerSecond, r.naiveRest64?.requestsPerSecond),
      1,
    ),
    atMost('REST gateway p99 at c=64 vs the naive REST server (lower is better)', ratio(r.gateway64?.p99Us, r.naiveRest64?.p99Us), 1),
  ];
}
