/**
 * (j) SLO-aware batching: the MLP of (h) (inference-bound, where batch size decides both speed
 * and latency) served twice, with the fixed policy (the defaults: batches up to maxBatchRows,
 * no hold) and with a latency objective (`--latency-target-ms`), each at 0.5x, 1x and 2x the
 * fixed policy's capacity: the same offered loads for both. Capacity is the closed-loop
 * answered-OK rate of 64 calls from the Node generators (as in (i)); each open-loop run lasts
 * BENCH_DURATION, at most 8 s, after BENCH_WARMUP, every call with a 1 s deadline. Runs up to 1x
 * are all Node generators (every call classified); the 2x run is h2load with a Node probe (as
 * bench:overload does above 1x).
 *
 * One row per policy and load: answered OK per second, the OK calls' p50 and p99, and in
 * `failed` the calls not answered OK (the objective's refusals among them) over the run.
 * Targets: with the objective, p99 within it at every load, and OK/s at least the fixed
 * policy's at the same load.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { verifyCall } from '../lib/h2load.js';
import { quiverBuild, startQuiver, stopQuiver } from '../lib/quiver-process.js';
import { generate } from '../overload/generators.js';
import type { OverloadOptions } from '../overload/options.js';
import { phase } from '../overload/phase.js';
import { body, PATH } from '../overload/request.js';
import { recovery } from '../overload/server-side.js';
import type { Row } from './measure.js';
import { MLP_NAME, mlpModelPath } from './mlp.js';
import { DURATION, MLP_HIDDEN, WARMUP } from './options.js';
import { atLeast, atMost, ratio, reference, type Target } from './target.js';
import type { Bench } from './targets.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The objective, ms: four single-row runs of the MLP (about 4.5 ms each on the benchmark
 * machine) leave room for batches of tens of rows, where batching pays; under the fixed
 * policy's 256-row batches (about 100 ms each) its p99 is far above it.
 */
export const SLO_TARGET_MS = 100;
export const SLO_LOADS = [0.5, 1, 2] as const;
const CAPACITY_CONCURRENCY = 64;
const DURATION_S = Math.min(8, DURATION);

type Policy = 'fixed policy' | `latencyTargetMs ${number}`;
const POLICIES: readonly Policy[] = ['fixed policy', `latencyTargetMs ${SLO_TARGET_MS}`];

export const sloLabel = (policy: Policy, load: number): string => `(j) SLO batching, ${MLP_NAME}, ${policy}, ${load}x capacity offered`;
const capacityLabel = `(j) SLO batching, ${MLP_NAME}, fixed policy: capacity (closed loop, ${CAPACITY_CONCURRENCY} calls)`;

const options = (): OverloadOptions => ({
  durationS: DURATION_S,
  warmupS: WARMUP,
  deadlineMs: 1000,
  multipliers: [...SLO_LOADS],
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
  hidden: MLP_HIDDEN,
  modelText: MLP_NAME,
});

const ms = (v: number | null): number | null => (v === null ? null : v * 1000);

/**
 * One server with `policy`: its capacity first when `capacity` is undefined (the fixed
 * policy), then each load; the server is stopped and its files removed after.
 */
async function policyRuns(bench: Bench, policy: Policy, capacity: number | undefined): Promise<{ rows: Row[]; capacity: number }> {
  const o = options();
  const build = quiverBuild(ROOT, false);
  const dataDir = join(bench.work, `slo-data-${policy.replace(/\W+/g, '-')}`);
  const server = await startQuiver(build, [
    ...['--grpc-host', '127.0.0.1', '--grpc-port', '0', '--http-host', '127.0.0.1', '--http-port', '0'],
    ...['--model', `production-model=${mlpModelPath(bench)}`, '--no-registry', '--no-metrics-server', '--data-dir', dataDir],
    ...(policy === 'fixed policy' ? [] : ['--latency-target-ms', String(SLO_TARGET_MS)]),
  ]);
  const address = `127.0.0.1:${server.grpcPort}`;
  const rows: Row[] = [];
  try {
    const probe = await verifyCall(address, PATH, body);
    if (probe.status !== 0) throw new Error(`SLO batching, ${policy}: grpc-status ${probe.status}: ${probe.details}`);
    let rate = capacity;
    if (rate === undefined) {
      const closed = await generate(o, 'closed', address, 0, CAPACITY_CONCURRENCY, o.durationS, o.warmupS);
      rate = Math.round((closed.byStatus.OK ?? 0) / o.durationS);
      rows.push({
        target: capacityLabel,
        concurrency: CAPACITY_CONCURRENCY,
        requestsPerSecond: rate,
        rowsPerSecond: rate,
        p50Us: null,
        p99Us: null,
        failed: Object.entries(closed.byStatus).reduce((n, [status, count]) => n + (status === 'OK' ? 0 : count), 0),
      });
      process.stderr.write(`  capacity (fixed policy) ${rate} req/s OK\n`);
    }
    for (const load of SLO_LOADS) {
      await recovery(address, 30_000);
      const p = await phase(o, server, address, load, rate, { responseBytes: probe.message.length + 5, workDir: bench.work });
      rows.push({
        target: sloLabel(policy, load),
        concurrency: null,
        requestsPerSecond: p.okRate,
        rowsPerSecond: p.okRate,
        p50Us: ms(p.okP50Ms),
        p99Us: ms(p.okP99Ms),
        failed: Math.round(p.failedRate * o.durationS),
      });
      process.stderr.write(`  ${policy} at ${load}x: ${Math.round(p.okRate)} OK/s, p99 ${p.okP99Ms ?? '-'} ms\n`);
    }
    return { rows, capacity: rate };
  } finally {
    await stopQuiver(server);
    rmSync(dataDir, { recursive: true, force: true });
    build.cleanup();
  }
}

export async function sloBatchingRows(bench: Bench): Promise<Row[]> {
  process.stderr.write(`(j) SLO batching, ${MLP_NAME}: fixed policy, then latencyTargetMs ${SLO_TARGET_MS}, at ${SLO_LOADS.join(', ')}x\n`);
  const fixed = await policyRuns(bench, 'fixed policy', undefined);
  const slo = await policyRuns(bench, POLICIES[1] as Policy, fixed.capacity);
  return [...fixed.rows, ...slo.rows];
}

/** Per load: the objective's p99 against it, and its goodput against the fixed policy's; the fixed policy's p99 for reference. */
export function sloBatchingTargets(rows: readonly Row[]): Target[] {
  const named = (label: string): Row | undefined => rows.find((r) => r.target === label);
  return SLO_LOADS.flatMap((load) => {
    const fixed = named(sloLabel('fixed policy', load));
    const slo = named(sloLabel(POLICIES[1] as Policy, load));
    return [
      atMost(
        `${MLP_NAME} at ${load}x load, latencyTargetMs ${SLO_TARGET_MS}: OK p99 vs the objective`,
        ratio(slo?.p99Us, SLO_TARGET_MS * 1000),
        1,
      ),
      atLeast(
        `${MLP_NAME} at ${load}x load, latencyTargetMs ${SLO_TARGET_MS}: answered OK per second vs the fixed policy`,
        ratio(slo?.requestsPerSecond, fixed?.requestsPerSecond),
        1,
      ),
      reference(
        `${MLP_NAME} at ${load}x load, fixed policy: OK p99 vs ${SLO_TARGET_MS} ms (for reference)`,
        ratio(fixed?.p99Us, SLO_TARGET_MS * 1000),
      ),
    ];
  });
}
