/**
 * `npm run bench:multiprocess`: does more than one Quiver process per machine serve more than
 * one? One event loop carries all of a process's gRPC transport, so past one core for the
 * main thread a single process can only grow its worker pool. This measures, on this machine,
 * Predict (the demo model, one row) and dense BatchPredict (256 rows) under the same h2load
 * load (several connections, so that they spread over processes) against:
 *   - one `quiver serve` process with Quiver's defaults (workers = cores - 1);
 *   - one process with as many workers as the processes below have in all (the same pool size);
 *   - `quiver serve --processes N` (N server processes sharing the ports through Node's
 *     `cluster` module), one worker each (and, where the default differs, the default each).
 * The shapes alternate within each round, so that a ratio compares runs minutes apart.
 * Writes benchmarks/results/<stamp>-multiprocess.md (the machine, each run's req/s, p50/p99
 * and the cores each process used) and the raw JSON under benchmarks/results/raw/.
 *
 * Options: --duration 10 --warmup 2 (s per run) --rounds 2 --processes 2
 *          --concurrency 64 (calls in flight) --connections 4 (HTTP/2 connections)
 *          --checkout DIR (the checkout whose dist/ runs, e.g. a clean build of a commit; default this one)
 *
 * The parts under multiprocess/: servers.ts (the shapes), measure.ts (one run and its CPU), report.ts (the results). Needs h2load (Debian
 * package nghttp2-client) and dist/ (npm run build); the server runs from a snapshot of dist/.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { buildDemoModel } from '../src/onnx/demo-model.js';
import { h2loadVersion } from './lib/h2load.js';
import { machineInfo } from './lib/machine.js';
import { loadAverage, quiverBuild } from './lib/quiver-process.js';
import { type Call, type Load, measure } from './multiprocess/measure.js';
import { type Entry, writeMultiprocessResults } from './multiprocess/report.js';
import { type Shape, startShape } from './multiprocess/servers.js';
import { checkBatch, checkPredict } from './run/answers.js';
import { expectedProbability } from './run/onnxruntime.js';
import { BATCH_ROWS } from './run/options.js';
import { BATCH_PATH, batchBody, PREDICT_PATH, predictBody } from './run/requests.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
    processes: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '64' },
    connections: { type: 'string', default: '4' },
    checkout: { type: 'string', default: ROOT },
  },
});
const rounds = Number(args.rounds);
const processes = Number(args.processes);

/** The shapes compared, the first the reference; `--processes` with its default pool only where that differs from one worker. */
function shapes(): Shape[] {
  const cores = availableParallelism();
  const defaultWorkers = Math.max(1, cores - 1);
  const perProcess = Math.max(1, Math.floor(cores / processes) - 1);
  const out: Shape[] = [
    { name: `1 process, default workers (${defaultWorkers})`, processes: 1, workers: undefined },
    { name: `1 process, ${processes} workers`, processes: 1, workers: processes },
    { name: `--processes ${processes}, 1 worker each`, processes, workers: 1 },
  ];
  if (perProcess !== 1) out.push({ name: `--processes ${processes}, default workers (${perProcess}) each`, processes, workers: undefined });
  return out;
}

async function main(): Promise<void> {
  const h2load = await h2loadVersion();
  if (h2load === null) {
    process.stderr.write('h2load not found: install Debian/Ubuntu package nghttp2-client (apt-get install nghttp2-client)\n');
    process.exitCode = 1;
    return;
  }
  const work = mkdtempSync(join(tmpdir(), 'quiver-multiprocess-'));
  const modelPath = join(work, 'demo.onnx');
  writeFileSync(modelPath, buildDemoModel());
  const expectedP1 = await expectedProbability(modelPath);
  const calls: Call[] = [
    { name: 'Predict', path: PREDICT_PATH, body: predictBody, rowsPerCall: 1, check: checkPredict(expectedP1, true) },
    { name: `BatchPredict, dense ${BATCH_ROWS} rows`, path: BATCH_PATH, body: batchBody, rowsPerCall: BATCH_ROWS, check: checkBatch },
  ];
  const load: Load = {
    concurrency: Number(args.concurrency),
    connections: Number(args.connections),
    durationS: Number(args.duration),
    warmupS: Number(args.warmup),
    workDir: work,
  };
  const machine = machineInfo(ROOT);
  const build = quiverBuild(args.checkout, false);
  const compared = shapes();
  const loadBefore = loadAverage();
  process.stderr.write(
    `multiprocess benchmark: ${machine.cpuModel}, ${machine.cores} cores, ${rounds} rounds of ${compared.length} shapes\n`,
  );
  const entries: Entry[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const shape of compared) {
        const server = await startShape(build, modelPath, shape);
        try {
          for (const call of calls) {
            const result = await measure(server, call, load);
            entries.push({ round, shape, call: call.name, result });
            process.stderr.write(
              `  round ${round}, ${shape.name}, ${call.name}: ${Math.round(result.okPerSecond)} OK/s, ${result.failed} failed, p50 ${result.p50Us} µs, p99 ${result.p99Us} µs, cores ${result.quiverCores.map((c) => c.toFixed(2)).join(' + ')}\n`,
            );
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    build.cleanup();
  }
  const loadAfter = loadAverage();
  const { connections, concurrency, durationS, warmupS } = load;
  writeMultiprocessResults(ROOT, {
    machine,
    h2load,
    build: args.checkout === ROOT ? build.description : `${build.description} of ${args.checkout}`,
    load: { connections, concurrency, durationS, warmupS },
    rounds,
    shapes: compared,
    calls: calls.map((c) => c.name),
    entries,
    loadBefore: `${loadBefore.load1}, ${loadBefore.load5}, ${loadBefore.load15}`,
    loadAfter: `${loadAfter.load1}, ${loadAfter.load5}, ${loadAfter.load15}`,
  });
}

await main();
