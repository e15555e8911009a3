/**
 * `npm run bench`: one run, one table. Measures on this machine, side by side:
 *   (a) raw in-process onnxruntime rows/s for the demo model (the limit),
 *   (b) a grpc-js echo server with the same messages (the transport ceiling),
 *   (b2) a naive grpc-js server running onnxruntime inline per request (what users write),
 *   (c) Quiver Predict, (d) Quiver BatchPredict (dense, 256 rows per call),
 *   (e) a naive Fastify REST server running onnxruntime inline, (f) Quiver's REST gateway /predict (wrk),
 * at concurrency 1, 16 and 64 with h2load (one connection, c streams), p50/p99 from h2load's
 * per-request log. Writes the table with the machine and versions to benchmarks/results/.
 *
 * Options: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2),
 *          BENCH_CONCURRENCY (default "1,16,64").
 *
 * The steps are here; the parts under run/: options.ts, requests.ts (the calls),
 * servers.ts (the processes it starts), onnxruntime.ts (row (a) and the expected answer),
 * answers.ts (the answer checks), measure.ts (h2load and wrk rows), targets.ts (rows (a) to
 * (f)), monitoring-cost.ts (rows (g)), ratios.ts (the target ratios), report.ts (the results).
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { buildDemoModel } from '../src/onnx/demo-model.js';
import { h2loadVersion } from './lib/h2load.js';
import { machineInfo } from './lib/machine.js';
import { wrkVersion } from './lib/wrk.js';
import type { Row } from './run/measure.js';
import { monitoringCostRows } from './run/monitoring-cost.js';
import { expectedProbability } from './run/onnxruntime.js';
import { DURATION } from './run/options.js';
import { targetRatios } from './run/ratios.js';
import { writeBenchResults } from './run/report.js';
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

  const raw = await rawOnnxruntimeRows(bench);
  const rows: Row[] = [...raw.rows];
  rows.push(...(await echoRows(bench)));
  rows.push(...(await naiveGrpcRows(bench)));
  const wrk = await wrkVersion();
  if (wrk !== null) rows.push(...(await naiveRestRows(bench)));
  else process.stderr.write('wrk not found (apt-get install wrk): skipping the REST rows\n');
  rows.push(...(await quiverRows(bench, wrk !== null)));
  rows.push(...(await monitoringCostRows(bench)));

  writeBenchResults(ROOT, { machine, h2load, wrk, rows, targets: targetRatios(rows, raw.rawBatch) });
}

await main();
