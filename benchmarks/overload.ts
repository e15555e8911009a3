/**
 * `npm run bench:overload`: what Quiver does when offered more than it can serve.
 *
 *  1. Starts a Quiver server (compiled, from a snapshot of dist/; see lib/quiver-process.ts)
 *     in its own process with the demo model and default limits (queue bound included).
 *  2. Capacity: closed-loop Predict (`--capacity-concurrency` calls outstanding) from the
 *     same generator processes as the open-loop runs, so both pay the same client cost on
 *     this machine; capacity = answered OK per second. (h2load's closed-loop figure, from a
 *     much cheaper client, is recorded for reference when h2load is installed.)
 *  3. Open loop at each multiple of that capacity (`--multipliers`): calls arrive at a
 *     fixed rate whatever the server answers, each with a gRPC deadline (`--deadline-ms`,
 *     sent as grpc-timeout and enforced by the client); `--duration` s measured after
 *     `--warmup` s. Up to 1x: `--generators` Node processes x `--connections` HTTP/2
 *     connections each (lib/open-loop.ts, node:http2; every grpc-status read, calls
 *     cancelled at the deadline like a gRPC client's). Above 1x the Node generators cannot
 *     offer the rate on a small machine without starving the server (they cost about as much
 *     CPU per call as the server), so h2load carries the bulk (lib/h2load-open.ts: cheap, but
 *     blind to grpc-status) and a Node probe at `--probe-rate` classifies a sample.
 *
 * Recorded per run: offered and achieved send rate (and the generators' lag behind their
 * schedule, which says whether the offered rate was real), OK/s, OK p50/p99/max,
 * RESOURCE_EXHAUSTED count and its p50/p99 (how fast the shedding is), DEADLINE_EXCEEDED
 * (client-side cancels and server answers) and other statuses, the server's CPU and RSS,
 * its own drop counters (/metrics), how long it took to answer promptly again, and the
 * machine's load averages. The claim checked: at the highest multiple the server sheds with
 * RESOURCE_EXHAUSTED in milliseconds while accepted calls keep a p99 within a small multiple
 * of the 1x p99 and well under the deadline.
 *
 * Writes benchmarks/results/<stamp>-overload.md (and the raw JSON under benchmarks/results/raw/).
 *
 * Options: --duration 20 --warmup 3 --deadline-ms 1000 --multipliers 0.5,0.8,1,2,4
 *          --generators 2 --connections 4 --capacity-concurrency 64 --capacity N (skip step 2 and h2load)
 *          --server-arg ARG (repeatable: extra `quiver serve` arguments, e.g. --server-arg=--max-queue-rows=1024)
 *          --bulk h2load|none (h2load for the runs above --bulk-above 1, with a Node probe of --probe-rate 500/s)
 *          --bulk-rate-per-connection 500 (h2load's connections: one per this many calls/s)
 *          --hidden N (an MLP 10-N-N-2 instead of the demo model)
 *
 * The steps are here; the parts under overload/: options.ts, request.ts (the call),
 * generators.ts (the Node load generators), server-side.ts (the server's CPU, drops,
 * recovery), phase.ts (one open-loop run), checks.ts (the claim), report.ts (the results).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { PredictResponse } from '../src/gen/quiver/v1/prediction.js';
import { buildDemoModel } from '../src/onnx/demo-model.js';
import { h2loadVersion, runLoad, verifyCall } from './lib/h2load.js';
import { machineInfo } from './lib/machine.js';
import { buildMlpModel } from './lib/mlp-model.js';
import { newHistogram, quantile } from './lib/open-loop.js';
import {
  loadAverage,
  processMemory,
  type QuiverBuild,
  quiverBuild,
  type ServerProcess,
  startQuiver,
  stopQuiver,
} from './lib/quiver-process.js';
import { generate } from './overload/generators.js';
import { type OverloadOptions, parseOverloadOptions } from './overload/options.js';
import { type Phase, phase, r2 } from './overload/phase.js';
import { body, PATH } from './overload/request.js';
import { type CapacityRun, type H2loadCapacity, writeOverloadResults } from './overload/report.js';
import { cpuMsOf, recovery } from './overload/server-side.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The server under test, and the scratch directory its model and data live in. */
interface Setup {
  readonly build: QuiverBuild;
  readonly work: string;
  readonly serverArgs: string[];
  readonly server: ServerProcess;
  readonly address: string;
}

/** Writes the model, starts `quiver serve` on free loopback ports; cleans up if it does not start. */
async function startServer(options: OverloadOptions): Promise<Setup> {
  const build = quiverBuild(ROOT, options.source);
  const work = mkdtempSync(join(tmpdir(), 'quiver-overload-'));
  const modelPath = join(work, 'model.onnx');
  writeFileSync(modelPath, options.hidden > 0 ? buildMlpModel(options.hidden, 1) : buildDemoModel());
  const serverArgs = [
    '--grpc-host',
    '127.0.0.1',
    '--grpc-port',
    '0',
    '--http-host',
    '127.0.0.1',
    '--http-port',
    '0',
    '--model',
    `production-model=${modelPath}`,
    '--no-registry',
    '--no-metrics-server',
    '--data-dir',
    join(work, 'data'),
    ...options.serverArgs,
  ];
  const server = await startQuiver(build, serverArgs).catch((err: unknown) => {
    rmSync(work, { recursive: true, force: true });
    build.cleanup();
    throw err;
  });
  return { build, work, serverArgs, server, address: `127.0.0.1:${server.grpcPort}` };
}

/** One Predict answered as expected, before any load; returns the answer's message bytes. */
async function checkAnswer(setup: Setup): Promise<Buffer> {
  const { server, address, build } = setup;
  const probe = await verifyCall(address, PATH, body);
  if (probe.status !== 0) throw new Error(`Predict failed with grpc-status ${probe.status}: ${probe.details}`);
  const answer = PredictResponse.decode(probe.message);
  if (answer.probabilities.length !== 2) throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
  process.stderr.write(`server pid ${server.pid} on ${address}, RSS ${processMemory(server.pid).rssMiB} MiB (${build.description})\n`);
  return probe.message;
}

/** h2load's closed-loop figure, for reference (none with --capacity, --bulk none, or without h2load). */
async function measureH2loadCapacity(options: OverloadOptions, setup: Setup, responseBytes: number): Promise<H2loadCapacity | null> {
  if (!(options.capacity === undefined && options.bulk === 'h2load' && (await h2loadVersion()) !== null)) return null;
  const r = await runLoad({
    url: `http://${setup.address}${PATH}`,
    body,
    concurrency: options.capacityConcurrency,
    durationS: 10,
    warmupS: 2,
    workDir: setup.work,
    responseBytes,
  });
  const h2loadCapacity = { requestsPerSecond: Math.round(r.requestsPerSecond), p50Us: r.p50Us, p99Us: r.p99Us };
  process.stderr.write(`h2load closed loop c=${options.capacityConcurrency}: ${h2loadCapacity.requestsPerSecond} req/s (reference)\n`);
  return h2loadCapacity;
}

/** The capacity: given with --capacity, else OK/s in a closed loop from the Node generators. */
async function measureCapacity(options: OverloadOptions, setup: Setup): Promise<{ capacity: number; capacityRun: CapacityRun | null }> {
  if (options.capacity !== undefined) return { capacity: Number(options.capacity), capacityRun: null };
  const { server, address } = setup;
  const cpu0 = cpuMsOf(server.pid);
  const t0 = performance.now();
  const m = await generate(options, 'closed', address, 0, options.capacityConcurrency, 10, 2);
  const serverCpuPct = Math.round(((cpuMsOf(server.pid) - cpu0) / (performance.now() - t0)) * 100);
  const ok = m.latency.OK ?? newHistogram();
  const capacity = Math.round((m.byStatus.OK ?? 0) / 10);
  const capacityRun = {
    okRate: capacity,
    p50Ms: r2(quantile(ok, 0.5)),
    p99Ms: r2(quantile(ok, 0.99)),
    generatorCpuPct: m.generatorCpuPct,
    serverCpuPct,
  };
  const bad = Object.entries(m.byStatus).filter(([k]) => k !== 'OK');
  process.stderr.write(
    `capacity (closed loop, c=${options.capacityConcurrency}, ${options.generators} generators): ${capacity} req/s OK, p50 ${capacityRun.p50Ms} ms, p99 ${capacityRun.p99Ms} ms; server CPU ${serverCpuPct}%, generators ${m.generatorCpuPct}%${bad.length === 0 ? '' : `; not OK: ${JSON.stringify(Object.fromEntries(bad))}`}\n`,
  );
  return { capacity, capacityRun };
}

/** The open-loop run at each multiple of the capacity, h2load carrying the bulk above --bulk-above. */
async function runPhases(options: OverloadOptions, setup: Setup, capacity: number, responseBytes: number): Promise<Phase[]> {
  const { server, address, work } = setup;
  const phases: Phase[] = [];
  const h2load = options.bulk === 'h2load' ? await h2loadVersion() : null;
  if (options.bulk === 'h2load' && h2load === null)
    process.stderr.write('h2load not found (apt-get install nghttp2-client): every run uses the Node generators\n');
  for (const mult of options.multipliers) {
    const bulk = h2load !== null && mult > options.bulkAbove ? { responseBytes, workDir: work } : null;
    phases.push(await phase(options, server, address, mult, capacity, bulk));
    await sleep(2000);
  }
  return phases;
}

async function main(): Promise<void> {
  const options = parseOverloadOptions();
  const machine = machineInfo(ROOT);
  const loadStart = loadAverage();
  process.stderr.write(
    `overload: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; load ${loadStart.load1}/${loadStart.load5}/${loadStart.load15}\n`,
  );
  const setup = await startServer(options);
  let capacity: number;
  let capacityRun: CapacityRun | null;
  let h2loadCapacity: H2loadCapacity | null;
  let phases: Phase[];
  try {
    // An answer's size on the wire (the message and its 5-byte gRPC frame header), for h2load.
    const responseBytes = (await checkAnswer(setup)).length + 5;
    h2loadCapacity = await measureH2loadCapacity(options, setup, responseBytes);
    ({ capacity, capacityRun } = await measureCapacity(options, setup));
    await recovery(setup.address, 30_000);
    phases = await runPhases(options, setup, capacity, responseBytes);
  } finally {
    await stopQuiver(setup.server);
    rmSync(setup.work, { recursive: true, force: true });
    setup.build.cleanup();
  }
  writeOverloadResults(ROOT, {
    options,
    machine,
    loadStart,
    loadEnd: loadAverage(),
    buildDescription: setup.build.description,
    serverArgs: setup.serverArgs,
    capacity,
    capacityRun,
    h2loadCapacity,
    phases,
  });
}

await main();
