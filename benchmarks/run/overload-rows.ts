/**
 * (i) Cheap refusal under overload, a short version of `npm run bench:overload` built from its
 * parts (open-loop-server.ts), for the demo model (transport-bound) and the MLP of (h)
 * (inference-bound): Quiver from a snapshot of dist/ (lib/quiver-process.ts),
 * its capacity (answered OK per second in a closed loop of 64 calls from the Node generators,
 * as bench:overload measures it), then an open loop at 4x that capacity (h2load carries the
 * bulk, a 500/s Node probe reads grpc-status), every call with a 1 s deadline. Each run lasts
 * BENCH_DURATION, at most 8 s, after BENCH_WARMUP.
 *
 * Four rows per model: the capacity; at 4x, the calls really sent (on these shared cores the
 * load generators may fall short of the rate, and then the run says little); the calls answered
 * OK (goodput, OK latency); and the calls not answered OK, with the latency of the refusals
 * (RESOURCE_EXHAUSTED) the probe saw.
 */
import { quantile } from '../lib/open-loop.js';
import { type Phase, phase } from '../overload/phase.js';
import { recovery } from '../overload/server-side.js';
import type { Row } from './measure.js';
import { MLP_NAME, mlpModelPath } from './mlp.js';
import { CAPACITY_CONCURRENCY, closedLoopCapacity, shortOverloadOptions, usFromMs, withQuiver } from './open-loop-server.js';
import { MLP_HIDDEN } from './options.js';
import type { Bench } from './targets.js';

export const OVERLOAD_MULTIPLIER = 4;

/** The row labels, one set per model; ratios.ts finds the rows by them. */
export const overloadLabels = (model: string) => ({
  capacity: `(i) overload, ${model}: capacity (closed loop, ${CAPACITY_CONCURRENCY} calls, Node generators)`,
  sent: `(i) overload, ${model}: ${OVERLOAD_MULTIPLIER}x capacity offered, sent`,
  ok: `(i) overload, ${model}: ${OVERLOAD_MULTIPLIER}x capacity offered, answered OK`,
  refused: `(i) overload, ${model}: ${OVERLOAD_MULTIPLIER}x capacity offered, not answered OK (latency: the refusals)`,
});

/** Capacity and the run at 4x against one server; the server is stopped and its files removed after. */
function overloadRun(bench: Bench, model: string, modelPath: string, hidden: number): Promise<Row[]> {
  const o = shortOverloadOptions([OVERLOAD_MULTIPLIER], hidden, model);
  return withQuiver(bench, `overload ${hidden}`, modelPath, [], async ({ server, address, responseBytes }) => {
    const capacity = await closedLoopCapacity(o, address);
    process.stderr.write(`  ${model}: capacity ${capacity.rate} req/s OK\n`);
    await recovery(address, 30_000);
    const p: Phase = await phase(o, server, address, OVERLOAD_MULTIPLIER, capacity.rate, { responseBytes, workDir: bench.work });
    const labels = overloadLabels(model);
    return [
      {
        target: labels.capacity,
        concurrency: CAPACITY_CONCURRENCY,
        requestsPerSecond: capacity.rate,
        rowsPerSecond: capacity.rate,
        p50Us: usFromMs(quantile(capacity.okLatency, 0.5)),
        p99Us: usFromMs(quantile(capacity.okLatency, 0.99)),
        failed: capacity.failed,
      },
      {
        target: labels.sent,
        concurrency: null,
        requestsPerSecond: p.sentRate,
        rowsPerSecond: p.sentRate,
        p50Us: null,
        p99Us: null,
        failed: 0,
      },
      {
        target: labels.ok,
        concurrency: null,
        requestsPerSecond: p.okRate,
        rowsPerSecond: p.okRate,
        p50Us: usFromMs(p.okP50Ms),
        p99Us: usFromMs(p.okP99Ms),
        // Refusals are the point; a call that ran out of its deadline or ended otherwise is a failure.
        failed: p.deadline + Object.values(p.other).reduce((a, n) => a + n, 0),
      },
      {
        target: labels.refused,
        concurrency: null,
        requestsPerSecond: p.failedRate,
        rowsPerSecond: p.failedRate,
        p50Us: usFromMs(p.shedP50Ms),
        p99Us: usFromMs(p.shedP99Ms),
        failed: 0,
      },
    ];
  });
}

export async function overloadRows(bench: Bench): Promise<Row[]> {
  process.stderr.write(`(i) overload: capacity, then ${OVERLOAD_MULTIPLIER}x open loop\n`);
  return [
    ...(await overloadRun(bench, 'demo model', bench.modelPath, 0)),
    ...(await overloadRun(bench, MLP_NAME, mlpModelPath(bench), MLP_HIDDEN)),
  ];
}
