/**
 * `npm run bench`: one run, one table. Measures on this machine, side by side:
 *   (a) raw in-process onnxruntime rows/s for the demo model (the limit), batch 4096, 256 and 1,
 *   (b) a grpc-js echo server with the same messages (the transport ceiling),
 *   (b2) a naive grpc-js server running onnxruntime inline per request (what users write),
 *   (c) Quiver Predict, (d) Quiver BatchPredict (dense, 256 and 4096 rows per call),
 *   (e) a naive Fastify REST server running onnxruntime inline, (f) Quiver's REST gateway /predict (wrk),
 * at concurrency 1, 16 and 64 with h2load (one connection, c streams; the 4096-row messages at
 * 1, 2 and 4), p50/p99 from h2load's per-request log; then
 *   (h) the inference-bound MLP 10-4096-4096-2: raw onnxruntime, the naive gRPC server and Quiver Predict,
 *   (i) overload: capacity, then 4x capacity open loop, for the demo model and the MLP,
 *   (g) monitoring cost: Predict at c=64 with metrics and tracing on and off,
 *   (j) SLO-aware batching: the MLP at 0.5x, 1x and 2x load, fixed policy against latencyTargetMs,
 *   (k) the prediction log's cost: Predict at c=64 with the registry, the log off, capped (the default) and uncapped,
 *   (l) a shadow rollout's cost to its callers: Predict p50 and p99 at c=4, shadow off and on, against the off runs' spread.
 * Under the table, every target with its goal, met or missed by how much. Writes the table
 * with the machine and versions to benchmarks/results/.
 *
 * Options: BENCH_DURATION (s, default 10; the overload runs take at most 8), BENCH_WARMUP (s, default 2),
 *          BENCH_CONCURRENCY (default "1,16,64"),
 *          BENCH_SECTIONS (default all: "baseline,mlp,overload,monitoring,slo,feedback"; baseline is (a) to (f);
 *          the targets of sections left out read "not measured").
 *
 * The steps are here; the parts under run/: options.ts, requests.ts (the calls),
 * servers.ts (the processes it starts), onnxruntime.ts (row (a) and the expected answer),
 * answers.ts (the answer checks), measure.ts (h2load and wrk rows), targets.ts (rows (a) to
 * (f)), mlp.ts (rows (h)), overload-rows.ts (rows (i)), monitoring-cost.ts (rows (g)),
 * slo-batching.ts (rows (j)), feedback-cost.ts (rows (k)), shadow-cost.ts (rows (l)), ratios.ts (the targets), report.ts (the results).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildDemoModel } from '../src/onnx/demo-model.js';
import { h2loadVersion } from './lib/h2load.js';
import { machineInfo } from './lib/machine.js';
import { wrkVersion } from './lib/wrk.js';
import type { Row } from './run/measure.js';
import { feedbackCostRows } from './run/feedback-cost.js';
import { monitoringCostRows } from './run/monitoring-cost.js';
import { mlpRows } from './run/mlp.js';
import { expectedProbability } from './run/onnxruntime.js';
import { DURATION, runs } from './run/options.js';
import { overloadRows } from './run/overload-rows.js';
import { targetRatios } from './run/ratios.js';
import { writeBenchResults } from './run/report.js';
import { shadowCostRows } from './run/shadow-cost.js';
import { sloBatchingRows } from './run/slo-batching.js';
import { type Bench, echoRows, naiveGrpcRows, naiveRestRows, quiverRows, rawOnnxruntimeRows } from './run/targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const work = mkdtempSync(join(tmpdir(), 'quiver-bench-'));
const modelPath = join(work, 'demo.onnx');
writeFileSync(modelPath, buildDemoModel());

/** h2load's version line, or null (said on stderr) when h2load or dist/ is missing. */
async function checkPrerequisites(): Promise<string | null> {
  const h2load = await h2loadVersion();
  if (h2load === null) {
    process.stderr.write('h2load not found: install Debian/Ubuntu package nghttp2-client (apt-get install nghttp2-client)\n');
    return null;
  }
  if (!existsSync(join(ROOT, 'dist/src/cli/bin.js'))) {
    process.stderr.write('dist/ is missing: run npm run build (npm ci does it)\n');
    return null;
  }
  return h2load;
}

async function main(): Promise<void> {
  const h2load = await checkPrerequisites();
  if (h2load === null) {
    process.exitCode = 1;
    return;
  }
  const machine = machineInfo(ROOT);
  process.stderr.write(`benchmark: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, ${DURATION}s per run\n`);
  const bench: Bench = { work, modelPath, expectedP1: await expectedProbability(modelPath) };

  const wrk = await wrkVersion();
  const rows: Row[] = [];
  if (runs('baseline')) {
    rows.push(...(await rawOnnxruntimeRows(bench)));
    rows.push(...(await echoRows(bench)));
    rows.push(...(await naiveGrpcRows(bench)));
    if (wrk !== null) rows.push(...(await naiveRestRows(bench)));
    else process.stderr.write('wrk not found (apt-get install wrk): skipping the REST rows\n');
    rows.push(...(await quiverRows(bench, wrk !== null)));
  }
  if (runs('mlp')) rows.push(...(await mlpRows(bench)));
  if (runs('overload')) rows.push(...(await overloadRows(bench)));
  if (runs('monitoring')) rows.push(...(await monitoringCostRows(bench)));
  if (runs('slo')) rows.push(...(await sloBatchingRows(bench)));
  if (runs('feedback')) rows.push(...(await feedbackCostRows(bench)), ...(await shadowCostRows(bench)));

  writeBenchResults(ROOT, { machine, h2load, wrk, rows, targets: targetRatios(rows) });
}

try {
  await main();
} finally {
  // The scratch directory holds the MLP's 64 MiB of weights.
  rmSync(work, { recursive: true, force: true });
}
