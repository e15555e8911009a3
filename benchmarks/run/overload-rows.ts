/**
 * (i) Cheap refusal under overload, a short version of `npm run bench:overload` built from its
 * parts (overload/generators.ts, overload/phase.ts), for the demo model (transport-bound) and
 * the MLP of (h) (inference-bound): Quiver from a snapshot of dist/ (lib/quiver-process.ts),
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
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { verifyCall } from '../lib/h2load.js';
import { newHistogram, quantile } from '../lib/open-loop.js';
import { quiverBuild, startQuiver, stopQuiver } from '../lib/quiver-process.js';
import { generate } from '../overload/generators.js';
import type { OverloadOptions } from '../overload/options.js';
import { type Phase, phase } from '../overload/phase.js';
import { body, PATH } from '../overload/request.js';
import { recovery } from '../overload/server-side.js';
import type { Row } from './measure.js';
import { MLP_NAME, mlpModelPath } from './mlp.js';
import { DURATION, MLP_HIDDEN, WARMUP } from './options.js';
import type { Bench } from './targets.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const OVERLOAD_MULTIPLIER = 4;
/** Each run's measured seconds: short, to keep `npm run bench` short. */
export const OVERLOAD_DURATION_S = Math.min(8, DURATION);
const CAPACITY_CONCURRENCY = 64;

/** bench:overload's defaults, shortened: one open-loop run at OVERLOAD_MULTIPLIER. */
const options = (hidden: number, modelText: string): OverloadOptions => ({
  durationS: OVERLOAD_DURATION_S,
  warmupS: WARMUP,
  deadlineMs: 1000,
  multipliers: [OVERLOAD_MULTIPLIER],
  generators: 2,
  connections: 4,
  capacityConcurrency: CAPACITY_CONCURRENCY,
  capacity: undefined,
  serverArgs: [],
  bulk: 'h2load',
  bulkAbove: 1,
  probeRate: 500,
  bulkRatePerConnection: 500,
  source: false,
  label: '',
  hidden,
  modelText,
});

/** The row labels, one set per model; ratios.ts finds the rows by them. */
export const overloadLabels = (model: string) => ({
  capacity: `(i) overload, ${model}: capacity (closed loop, ${CAPACITY_CONCURRENCY} calls, Node generators)`,
  sent: `(i) overload, ${model}: ${OVERLOAD_MULTIPLIER}x capacity offered, sent`,
  ok: `(i) overload, ${model}: ${OVERLOAD_MULTIPLIER}x capacity offered, answered OK`,
  refused: `(i) overload, ${model}: ${OVERLOAD_MULTIPLIER}x capacity offered, not answered OK (latency: the refusals)`,
});

const ms = (v: number | null): number | null => (v === null ? null : v * 1000);

/** Capacity and the run at 4x against one server; the server is stopped and its files removed after. */
async function overloadRun(bench: Bench, model: string, modelPath: string, hidden: number): Promise<Row[]> {
  const o = options(hidden, model);
  const build = quiverBuild(ROOT, false);
  const dataDir = join(bench.work, `overload-data-${hidden}`);
  const server = await startQuiver(build, [
    ...['--grpc-host', '127.0.0.1', '--grpc-port', '0', '--http-host', '127.0.0.1', '--http-port', '0'],
    ...['--model', `production-model=${modelPath}`, '--no-registry', '--no-metrics-server', '--data-dir', dataDir],
  ]);
  const address = `127.0.0.1:${server.grpcPort}`;
  try {
    const probe = await verifyCall(address, PATH, body);
    if (probe.status !== 0) throw new Error(`overload, ${model}: grpc-status ${probe.status}: ${probe.details}`);
    const closed = await generate(o, 'closed', address, 0, CAPACITY_CONCURRENCY, o.durationS, o.warmupS);
    const okCount = closed.byStatus.OK ?? 0;
    const capacity = Math.round(okCount / o.durationS);
    const okLatency = closed.latency.OK ?? newHistogram();
    process.stderr.write(`  ${model}: capacity ${capacity} req/s OK\n`);
    await recovery(address, 30_000);
    const p: Phase = await phase(o, server, address, OVERLOAD_MULTIPLIER, capacity, {
      responseBytes: probe.message.length + 5,
      workDir: bench.work,
    });
    const labels = overloadLabels(model);
    return [
      {
        target: labels.capacity,
        concurrency: CAPACITY_CONCURRENCY,
        requestsPerSecond: capacity,
        rowsPerSecond: capacity,
        p50Us: ms(quantile(okLatency, 0.5)),
        p99Us: ms(quantile(okLatency, 0.99)),
        failed: Object.values(closed.byStatus).reduce((a, n) => a + n, 0) - okCount,
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
        p50Us: ms(p.okP50Ms),
        p99Us: ms(p.okP99Ms),
        // Refusals are the point; a call that ran out of its deadline or ended otherwise is a failure.
        failed: p.deadline + Object.values(p.other).reduce((a, n) => a + n, 0),
      },
      {
        target: labels.refused,
        concurrency: null,
        requestsPerSecond: p.failedRate,
        rowsPerSecond: p.failedRate,
        p50Us: ms(p.shedP50Ms),
        p99Us: ms(p.shedP99Ms),
        failed: 0,
      },
    ];
  } finally {
    await stopQuiver(server);
    rmSync(dataDir, { recursive: true, force: true });
    build.cleanup();
  }
}

export async function overloadRows(bench: Bench): Promise<Row[]> {
  process.stderr.write(`(i) overload: capacity, then ${OVERLOAD_MULTIPLIER}x open loop\n`);
  return [
    ...(await overloadRun(bench, 'demo model', bench.modelPath, 0)),
    ...(await overloadRun(bench, MLP_NAME, mlpModelPath(bench), MLP_HIDDEN)),
  ];
}
