/**
 * (j) SLO-aware batching: the MLP of (h) (inference-bound, where batch size decides both speed
 * and latency) served twice, with the fixed policy (the defaults: batches up to maxBatchRows,
 * no hold) and with a latency objective (`--latency-target-ms`), each at 0.5x, 1x and 2x the
 * fixed policy's capacity: the same offered loads for both. Capacity is the closed-loop
 * answered-OK rate of 64 calls from the Node generators (open-loop-server.ts, as in (i)); each open-loop run lasts
 * BENCH_DURATION, at most 8 s, after BENCH_WARMUP, every call with a 1 s deadline. Runs up to 1x
 * are all Node generators (every call classified); the 2x run is h2load with a Node probe (as
 * bench:overload does above 1x).
 *
 * One row per policy and load: answered OK per second, the OK calls' p50 and p99, and in
 * `failed` the calls not answered OK (the objective's refusals among them) over the run.
 * Targets: with the objective, p99 within it at every load, and OK/s at least the fixed
 * policy's at the same load.
 */
import { phase } from '../overload/phase.js';
import { recovery } from '../overload/server-side.js';
import type { Row } from './measure.js';
import { MLP_NAME, mlpModelPath } from './mlp.js';
import { CAPACITY_CONCURRENCY, closedLoopCapacity, shortOverloadOptions, usFromMs, withQuiver } from './open-loop-server.js';
import { MLP_HIDDEN } from './options.js';
import { atLeast, atMost, ratio, reference, type Target } from './target.js';
import type { Bench } from './targets.js';

/**
 * The objective, ms: four single-row runs of the MLP (about 4.5 ms each on the benchmark
 * machine) leave room for batches of tens of rows, where batching pays; under the fixed
 * policy's 256-row batches (about 100 ms each) its p99 is far above it.
 */
export const SLO_TARGET_MS = 100;
export const SLO_LOADS = [0.5, 1, 2] as const;

type Policy = 'fixed policy' | `latencyTargetMs ${number}`;
const POLICIES: readonly Policy[] = ['fixed policy', `latencyTargetMs ${SLO_TARGET_MS}`];

export const sloLabel = (policy: Policy, load: number): string => `(j) SLO batching, ${MLP_NAME}, ${policy}, ${load}x capacity offered`;
const capacityLabel = `(j) SLO batching, ${MLP_NAME}, fixed policy: capacity (closed loop, ${CAPACITY_CONCURRENCY} calls)`;

/**
 * One server with `policy`: its capacity first when `capacity` is undefined (the fixed
 * policy), then each load; the server is stopped and its files removed after.
 */
function policyRuns(bench: Bench, policy: Policy, capacity: number | undefined): Promise<{ rows: Row[]; capacity: number }> {
  const o = shortOverloadOptions([...SLO_LOADS], MLP_HIDDEN, MLP_NAME);
  const args = policy === 'fixed policy' ? [] : ['--latency-target-ms', String(SLO_TARGET_MS)];
  return withQuiver(bench, `slo ${policy}`, mlpModelPath(bench), args, async ({ server, address, responseBytes }) => {
    const rows: Row[] = [];
    let rate = capacity;
    if (rate === undefined) {
      const measured = await closedLoopCapacity(o, address);
      rate = measured.rate;
      rows.push({
        target: capacityLabel,
        concurrency: CAPACITY_CONCURRENCY,
        requestsPerSecond: rate,
        rowsPerSecond: rate,
        p50Us: null,
        p99Us: null,
        failed: measured.failed,
      });
      process.stderr.write(`  capacity (fixed policy) ${rate} req/s OK\n`);
    }
    for (const load of SLO_LOADS) {
      await recovery(address, 30_000);
      const p = await phase(o, server, address, load, rate, { responseBytes, workDir: bench.work });
      rows.push({
        target: sloLabel(policy, load),
        concurrency: null,
        requestsPerSecond: p.okRate,
        rowsPerSecond: p.okRate,
        p50Us: usFromMs(p.okP50Ms),
        p99Us: usFromMs(p.okP99Ms),
        failed: Math.round(p.failedRate * o.durationS),
      });
      process.stderr.write(`  ${policy} at ${load}x: ${Math.round(p.okRate)} OK/s, p99 ${p.okP99Ms ?? '-'} ms\n`);
    }
    return { rows, capacity: rate };
  });
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
