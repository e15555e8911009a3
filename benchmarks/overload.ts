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
 *          --source (run src/ under tsx instead of dist/) --label TEXT
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { PredictRequest, PredictResponse } from '../src/gen/quiver/v1/prediction.js';
import { buildDemoModel } from '../src/onnx/demo-model.js';
import { buildMlpModel } from './lib/mlp-model.js';
import { grpcFrame, h2loadVersion, runLoad, verifyCall } from './lib/h2load.js';
import { machineInfo, writeResults } from './lib/machine.js';
import { type BulkResult, runH2loadOpen } from './lib/h2load-open.js';
import { type GeneratorResult, type Histogram, merge, newHistogram, quantile, type RunSpec } from './lib/open-loop.js';
import { loadAverage, processMemory, quiverBuild, type ServerProcess, startQuiver, stopQuiver } from './lib/quiver-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PATH = '/quiver.v1.PredictionService/Predict';
const FEATURES = 10;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    'deadline-ms': { type: 'string', default: '1000' },
    multipliers: { type: 'string', default: '0.5,0.8,1,2,4' },
    generators: { type: 'string', default: '2' },
    connections: { type: 'string', default: '4' },
    'capacity-concurrency': { type: 'string', default: '64' },
    capacity: { type: 'string' },
    'server-arg': { type: 'string', multiple: true, default: [] },
    bulk: { type: 'string', default: 'h2load' },
    'bulk-above': { type: 'string', default: '1' },
    'probe-rate': { type: 'string', default: '500' },
    'bulk-rate-per-connection': { type: 'string', default: '500' },
    source: { type: 'boolean', default: false },
    label: { type: 'string', default: '' },
    // 0: the demo model (transport-bound: the main thread's gRPC work is the limit). N: an MLP
    // 10-N-N-2 (benchmarks/lib/mlp-model.ts), inference-bound when N is large (4096: ~34 MFLOP a row).
    hidden: { type: 'string', default: '0' },
  },
});
const DURATION_S = Number(args.duration);
const WARMUP_S = Number(args.warmup);
const DEADLINE_MS = Number(args['deadline-ms']);
const MULTIPLIERS = args.multipliers.split(',').map(Number);
const GENERATORS = Number(args.generators);
const CONNECTIONS = Number(args.connections);
const CAPACITY_C = Number(args['capacity-concurrency']);
const BULK_ABOVE = Number(args['bulk-above']);
const PROBE_RATE = Number(args['probe-rate']);
const HIDDEN = Number(args.hidden);
const MODEL_TEXT = HIDDEN > 0 ? `an MLP 10-${HIDDEN}-${HIDDEN}-2 (inference-bound)` : 'the demo model';
const BULK_RATE_PER_CONNECTION = Number(args['bulk-rate-per-connection']);
if (args.bulk !== 'h2load' && args.bulk !== 'none') throw new Error('--bulk is h2load or none');
if (MULTIPLIERS.some((m) => !(m > 0)) || !(GENERATORS >= 1) || !(CONNECTIONS >= 1)) throw new Error('bad options');

const row = Array.from({ length: FEATURES }, (_, i) => Math.round(Math.sin(i + 1) * 1000) / 1000);
const body = grpcFrame(
  PredictRequest.encode({
    modelName: 'production-model',
    modelVersion: '',
    features: new Map(row.map((v, i) => [`feature_${i}`, v])),
    inputs: new Map(),
    id: '',
  }).finish(),
);

// ---------------------------------------------------------------------------------------
// Generators

interface Merged {
  readonly due: number;
  readonly sent: number;
  readonly sentInWindow: number;
  readonly byStatus: Record<string, number>;
  readonly deadlineClient: number;
  readonly deadlineServer: number;
  readonly latency: Record<string, Histogram>;
  readonly lag: Histogram;
  readonly timeline: Array<Record<string, number>>;
  readonly maxInFlight: number;
  readonly reconnects: number;
  readonly generatorCpuPct: number;
  readonly errors: string[];
}

function generator(): Promise<{ run(spec: RunSpec): Promise<GeneratorResult> }> {
  const child = fork(join(ROOT, 'benchmarks/lib/open-loop.ts'), [], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    let result: ((r: GeneratorResult) => void) | undefined;
    let failed: ((e: Error) => void) | undefined;
    child.on('message', (m: { type: string; result?: GeneratorResult; message?: string }) => {
      if (m.type === 'ready')
        resolve({
          run: (spec) =>
            new Promise<GeneratorResult>((res, rej) => {
              result = res;
              failed = rej;
              child.send(spec);
            }),
        });
      else if (m.type === 'result' && m.result !== undefined) result?.(m.result);
      else if (m.type === 'error') failed?.(new Error(`generator: ${m.message}`));
    });
    child.once('exit', (code) => {
      const err = new Error(`generator exited (${code})`);
      reject(err);
      failed?.(err);
    });
  });
}

async function generate(
  mode: 'open' | 'closed',
  address: string,
  totalRate: number,
  totalConcurrency: number,
  durationS: number,
  warmupS: number,
  processes = GENERATORS,
  /** Called once the generators are ready, with the Date.now() their schedule starts at. */
  onStart?: (startAt: number) => void,
): Promise<Merged> {
  const gens = await Promise.all(Array.from({ length: processes }, () => generator()));
  const startAt = Date.now() + 500;
  onStart?.(startAt);
  const results = await Promise.all(
    gens.map((g, i) =>
      g.run({
        mode,
        address,
        path: PATH,
        body: body.toString('base64'),
        rate: totalRate / processes,
        // Spread the outstanding calls as evenly as they go.
        concurrency: Math.floor(totalConcurrency / processes) + (i < totalConcurrency % processes ? 1 : 0),
        connections: CONNECTIONS,
        warmupMs: warmupS * 1000,
        durationMs: durationS * 1000,
        deadlineMs: DEADLINE_MS,
        startAt,
      }),
    ),
  );
  const byStatus: Record<string, number> = {};
  const latency: Record<string, Histogram> = {};
  const lag = newHistogram();
  const timeline: Array<Record<string, number>> = [];
  const errors: string[] = [];
  let cpuMs = 0;
  let wallMs = 0;
  for (const r of results) {
    for (const [k, v] of Object.entries(r.byStatus)) byStatus[k] = (byStatus[k] ?? 0) + v;
    for (const [k, h] of Object.entries(r.latency)) merge((latency[k] ??= newHistogram()), h);
    merge(lag, r.lag);
    r.timeline.forEach((slot, i) => {
      const into = (timeline[i] ??= {});
      for (const [k, v] of Object.entries(slot)) into[k] = (into[k] ?? 0) + v;
    });
    for (const e of r.errors) if (errors.length < 10 && !errors.includes(e)) errors.push(e);
    cpuMs += r.cpuMs;
    wallMs = Math.max(wallMs, r.wallMs);
  }
  return {
    due: results.reduce((a, r) => a + r.due, 0),
    sent: results.reduce((a, r) => a + r.sent, 0),
    sentInWindow: results.reduce((a, r) => a + r.sentInWindow, 0),
    byStatus,
    deadlineClient: results.reduce((a, r) => a + r.deadlineClient, 0),
    deadlineServer: results.reduce((a, r) => a + r.deadlineServer, 0),
    latency,
    lag,
    timeline,
    maxInFlight: results.reduce((a, r) => a + r.maxInFlight, 0),
    reconnects: results.reduce((a, r) => a + r.reconnects, 0),
    generatorCpuPct: Math.round((cpuMs / wallMs) * 100),
    errors,
  };
}

// ---------------------------------------------------------------------------------------
// The server's side: CPU, memory, its own drop counters, and when it answers promptly again

/** utime + stime of a process, ms (Linux /proc/<pid>/stat; USER_HZ = 100). */
function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function dropCounters(httpPort: number | null): Promise<Record<string, number>> {
  if (httpPort === null) return {};
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^quiver_requests_dropped_total\{[^}]*reason="([^"]+)"[^}]*\} ([0-9.e+]+)/gm))
      out[m[1] as string] = (out[m[1] as string] ?? 0) + Number(m[2]);
    const predictions = /^ml_predictions_total\{[^}]*\} ([0-9.e+]+)/gm;
    let total = 0;
    for (const m of text.matchAll(predictions)) total += Number(m[1]);
    out.predictions = total;
    return out;
  } catch {
    return {};
  }
}

/** Probes until one Predict answers OK within 20 ms; returns how long that took, ms. */
async function recovery(address: string, limitMs: number): Promise<number | null> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    const p0 = performance.now();
    try {
      const r = await verifyCall(address, PATH, body);
      if (r.status === 0 && performance.now() - p0 < 20) return Math.round(performance.now() - t0);
    } catch {
      // keep probing
    }
    await sleep(100);
  }
  return null;
}

// ---------------------------------------------------------------------------------------

interface Phase {
  readonly multiplier: number;
  /** 'node': every call from the Node generators (all classified); 'h2load+probe': bulk from h2load, a probe sample classified. */
  readonly generator: 'node' | 'h2load+probe';
  /** Every call, whichever generator: due, really sent, answered OK, and not (per second). */
  readonly offeredRate: number;
  readonly sentRate: number;
  readonly okRate: number;
  readonly failedRate: number;
  /** The Node generators' lag behind their schedule (the probe's, in h2load+probe runs). */
  readonly lagP50Ms: number | null;
  readonly lagP99Ms: number | null;
  /** Calls whose grpc-status was read (all calls, or the probe's), and how they ended. */
  readonly classified: number;
  readonly byStatus: Record<string, number>;
  readonly okP50Ms: number | null;
  readonly okP99Ms: number | null;
  readonly okMaxMs: number | null;
  readonly shed: number;
  readonly shedP50Ms: number | null;
  readonly shedP99Ms: number | null;
  readonly shedMaxMs: number | null;
  readonly deadline: number;
  readonly deadlineClient: number;
  readonly deadlineServer: number;
  readonly deadlineP50Ms: number | null;
  readonly other: Record<string, number>;
  readonly maxInFlight: number;
  /** Connections the server closed during the run (the generators open new ones). */
  readonly reconnects: number;
  readonly serverCpuPct: number;
  readonly generatorCpuPct: number;
  readonly serverRssStartMiB: number;
  readonly serverRssMaxMiB: number;
  readonly serverRssEndMiB: number;
  readonly serverDrops: Record<string, number>;
  readonly recoveryMs: number | null;
  readonly loadAvg: ReturnType<typeof loadAverage>;
  readonly bulk: BulkResult | null;
  readonly timeline: Array<Record<string, number>>;
  readonly latencyQuantiles: Record<string, Record<string, number | null>>;
  readonly errors: string[];
}

const r2 = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);

async function phase(
  server: ServerProcess,
  address: string,
  multiplier: number,
  capacity: number,
  bulk: { responseBytes: number; workDir: string } | null,
): Promise<Phase> {
  const rate = multiplier * capacity;
  const probeRate = bulk === null ? 0 : Math.min(PROBE_RATE, rate / 2);
  process.stderr.write(
    `open loop ${multiplier}x = ${Math.round(rate)} req/s for ${DURATION_S}s (+${WARMUP_S}s warm-up)${bulk === null ? '' : `: h2load ${Math.round(rate - probeRate)}/s + probe ${Math.round(probeRate)}/s`}\n`,
  );
  const before = await dropCounters(server.httpPort);
  const rssStart = processMemory(server.pid).rssMiB;
  let rssMax = rssStart;
  const cpu0 = cpuMsOf(server.pid);
  const t0 = performance.now();
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, processMemory(server.pid).rssMiB);
  }, 500);
  // h2load starts with the probe's schedule (the probe's process takes a while to start).
  let bulkRun: Promise<BulkResult> | null = null;
  const startBulk = (startAt: number): void => {
    if (bulk === null) return;
    bulkRun = sleep(Math.max(0, startAt - Date.now())).then(() =>
      runH2loadOpen({
        url: `http://${address}${PATH}`,
        body,
        rate: rate - probeRate,
        durationS: DURATION_S,
        warmupS: WARMUP_S,
        deadlineMs: DEADLINE_MS,
        ratePerConnection: BULK_RATE_PER_CONNECTION,
        responseBytes: bulk.responseBytes,
        workDir: bulk.workDir,
      }),
    );
  };
  const m = await generate(
    'open',
    address,
    bulk === null ? rate : probeRate,
    0,
    DURATION_S,
    WARMUP_S,
    bulk === null ? GENERATORS : 1,
    startBulk,
  );
  const b: BulkResult | null = bulkRun === null ? null : await (bulkRun as Promise<BulkResult>);
  clearInterval(sampler);
  const serverCpuPct = Math.round(((cpuMsOf(server.pid) - cpu0) / (performance.now() - t0)) * 100);
  const loadAvg = loadAverage();
  const recoveryMs = await recovery(address, 60_000);
  const after = await dropCounters(server.httpPort);
  const serverDrops: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) serverDrops[k] = v - (before[k] ?? 0);
  const h = (k: string): Histogram => m.latency[k] ?? newHistogram();
  const other: Record<string, number> = {};
  for (const [k, v] of Object.entries(m.byStatus)) if (!['OK', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED'].includes(k)) other[k] = v;
  const latencyQuantiles: Record<string, Record<string, number | null>> = {};
  for (const [k, hist] of Object.entries(m.latency))
    latencyQuantiles[k] = {
      count: hist.count,
      p50: r2(quantile(hist, 0.5)),
      p90: r2(quantile(hist, 0.9)),
      p99: r2(quantile(hist, 0.99)),
      p999: r2(quantile(hist, 0.999)),
      max: r2(hist.maxMs),
    };
  const classified = Object.values(m.byStatus).reduce((a, v) => a + v, 0);
  const okAll = (m.byStatus.OK ?? 0) + (b?.ok ?? 0);
  const doneAll = classified + (b?.done ?? 0);
  const p: Phase = {
    multiplier,
    generator: b === null ? 'node' : 'h2load+probe',
    offeredRate: Math.round(b === null ? m.due / DURATION_S : rate),
    sentRate: Math.round((m.sentInWindow + (b?.started ?? 0)) / DURATION_S),
    okRate: Math.round(okAll / DURATION_S),
    failedRate: Math.round((doneAll - okAll) / DURATION_S),
    lagP50Ms: r2(quantile(m.lag, 0.5)),
    lagP99Ms: r2(quantile(m.lag, 0.99)),
    classified,
    byStatus: m.byStatus,
    okP50Ms: r2(quantile(h('OK'), 0.5)),
    okP99Ms: r2(quantile(h('OK'), 0.99)),
    okMaxMs: h('OK').count === 0 ? null : r2(h('OK').maxMs),
    shed: m.byStatus.RESOURCE_EXHAUSTED ?? 0,
    shedP50Ms: r2(quantile(h('RESOURCE_EXHAUSTED'), 0.5)),
    shedP99Ms: r2(quantile(h('RESOURCE_EXHAUSTED'), 0.99)),
    shedMaxMs: h('RESOURCE_EXHAUSTED').count === 0 ? null : r2(h('RESOURCE_EXHAUSTED').maxMs),
    deadline: m.byStatus.DEADLINE_EXCEEDED ?? 0,
    deadlineClient: m.deadlineClient,
    deadlineServer: m.deadlineServer,
    deadlineP50Ms: r2(quantile(h('DEADLINE_EXCEEDED'), 0.5)),
    other,
    maxInFlight: m.maxInFlight,
    reconnects: m.reconnects,
    serverCpuPct,
    generatorCpuPct: m.generatorCpuPct,
    serverRssStartMiB: rssStart,
    serverRssMaxMiB: rssMax,
    serverRssEndMiB: processMemory(server.pid).rssMiB,
    serverDrops,
    recoveryMs,
    loadAvg,
    bulk: b,
    timeline: m.timeline,
    latencyQuantiles,
    errors: m.errors,
  };
  const pct = (n: number): string => `${classified === 0 ? 0 : Math.round((n / classified) * 1000) / 10}%`;
  process.stderr.write(
    `  offered ${p.offeredRate}/s, sent ${p.sentRate}/s (node lag p99 ${p.lagP99Ms} ms), OK ${p.okRate}/s, not OK ${p.failedRate}/s; ` +
      `classified ${classified}: OK p50 ${p.okP50Ms} p99 ${p.okP99Ms} max ${p.okMaxMs} ms; ` +
      `RESOURCE_EXHAUSTED ${pct(p.shed)} (p50 ${p.shedP50Ms}, p99 ${p.shedP99Ms} ms); DEADLINE_EXCEEDED ${pct(p.deadline)} (client ${p.deadlineClient}); other ${JSON.stringify(other)}; ` +
      `connections closed by the server ${p.reconnects}; ` +
      `server CPU ${serverCpuPct}%, RSS max ${rssMax} MiB; answering promptly again after ${recoveryMs} ms; load ${loadAvg.load1}\n`,
  );
  if (b !== null)
    process.stderr.write(`  h2load: ${b.connections} connections x ${b.ratePerConnection}/s; ${b.raw.replace(/\n/g, '; ')}\n`);
  if (m.errors.length > 0) process.stderr.write(`  notes: ${m.errors.join('; ')}\n`);
  return p;
}

async function main(): Promise<void> {
  const machine = machineInfo(ROOT);
  const loadStart = loadAverage();
  process.stderr.write(
    `overload: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; load ${loadStart.load1}/${loadStart.load5}/${loadStart.load15}\n`,
  );
  const build = quiverBuild(ROOT, args.source);
  const work = mkdtempSync(join(tmpdir(), 'quiver-overload-'));
  const modelPath = join(work, 'model.onnx');
  writeFileSync(modelPath, HIDDEN > 0 ? buildMlpModel(HIDDEN, 1) : buildDemoModel());
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
    ...args['server-arg'],
  ];
  const server = await startQuiver(build, serverArgs).catch((err: unknown) => {
    rmSync(work, { recursive: true, force: true });
    build.cleanup();
    throw err;
  });
  const address = `127.0.0.1:${server.grpcPort}`;
  let capacity: number;
  let capacityRun: { okRate: number; p50Ms: number | null; p99Ms: number | null; generatorCpuPct: number; serverCpuPct: number } | null =
    null;
  let h2loadCapacity: { requestsPerSecond: number; p50Us: number; p99Us: number } | null = null;
  const phases: Phase[] = [];
  try {
    const probe = await verifyCall(address, PATH, body);
    if (probe.status !== 0) throw new Error(`Predict failed with grpc-status ${probe.status}: ${probe.details}`);
    const answer = PredictResponse.decode(probe.message);
    if (answer.probabilities.length !== 2) throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
    process.stderr.write(`server pid ${server.pid} on ${address}, RSS ${processMemory(server.pid).rssMiB} MiB (${build.description})\n`);

    if (args.capacity === undefined && args.bulk === 'h2load' && (await h2loadVersion()) !== null) {
      const r = await runLoad({
        url: `http://${address}${PATH}`,
        body,
        concurrency: CAPACITY_C,
        durationS: 10,
        warmupS: 2,
        workDir: work,
        responseBytes: probe.message.length + 5,
      });
      h2loadCapacity = { requestsPerSecond: Math.round(r.requestsPerSecond), p50Us: r.p50Us, p99Us: r.p99Us };
      process.stderr.write(`h2load closed loop c=${CAPACITY_C}: ${h2loadCapacity.requestsPerSecond} req/s (reference)\n`);
    }
    if (args.capacity !== undefined) {
      capacity = Number(args.capacity);
    } else {
      const cpu0 = cpuMsOf(server.pid);
      const t0 = performance.now();
      const m = await generate('closed', address, 0, CAPACITY_C, 10, 2);
      const serverCpuPct = Math.round(((cpuMsOf(server.pid) - cpu0) / (performance.now() - t0)) * 100);
      const ok = m.latency.OK ?? newHistogram();
      capacity = Math.round((m.byStatus.OK ?? 0) / 10);
      capacityRun = {
        okRate: capacity,
        p50Ms: r2(quantile(ok, 0.5)),
        p99Ms: r2(quantile(ok, 0.99)),
        generatorCpuPct: m.generatorCpuPct,
        serverCpuPct,
      };
      const bad = Object.entries(m.byStatus).filter(([k]) => k !== 'OK');
      process.stderr.write(
        `capacity (closed loop, c=${CAPACITY_C}, ${GENERATORS} generators): ${capacity} req/s OK, p50 ${capacityRun.p50Ms} ms, p99 ${capacityRun.p99Ms} ms; server CPU ${serverCpuPct}%, generators ${m.generatorCpuPct}%${bad.length === 0 ? '' : `; not OK: ${JSON.stringify(Object.fromEntries(bad))}`}\n`,
      );
    }
    await recovery(address, 30_000);
    const h2load = args.bulk === 'h2load' ? await h2loadVersion() : null;
    if (args.bulk === 'h2load' && h2load === null)
      process.stderr.write('h2load not found (apt-get install nghttp2-client): every run uses the Node generators\n');
    for (const mult of MULTIPLIERS) {
      const bulk = h2load !== null && mult > BULK_ABOVE ? { responseBytes: probe.message.length + 5, workDir: work } : null;
      phases.push(await phase(server, address, mult, capacity, bulk));
      await sleep(2000);
    }
  } finally {
    await stopQuiver(server);
    rmSync(work, { recursive: true, force: true });
    build.cleanup();
  }
  const loadEnd = loadAverage();

  // The claim, checked at the highest multiple against the run at 1x (else the lowest).
  const top = phases.reduce((a, b) => (b.multiplier > a.multiplier ? b : a));
  // The healthy reference the brief compares with (1x, or 0.8x): the highest multiple up to
  // 1x whose calls all made their deadline; else the lowest run.
  const healthy = phases.filter((p) => p.multiplier <= 1 && p.deadline === 0 && p.classified === (p.byStatus.OK ?? 0));
  const base =
    healthy.length > 0
      ? healthy.reduce((a, b) => (b.multiplier > a.multiplier ? b : a))
      : phases.reduce((a, b) => (b.multiplier < a.multiplier ? b : a));
  const checks = [
    {
      name: `the generators offered ${top.multiplier}x (sent / target rate)`,
      value: top.sentRate / (top.multiplier * capacity),
      goal: '>= 0.90',
      ok: (v: number) => v >= 0.9,
    },
    {
      name: `Node generators' lag behind their schedule at ${top.multiplier}x, p99 ms`,
      value: top.lagP99Ms ?? NaN,
      goal: '<= 50',
      ok: (v: number) => v <= 50,
    },
    {
      name: `calls shed with RESOURCE_EXHAUSTED at ${top.multiplier}x (share of the classified calls)`,
      value: top.shed / Math.max(1, top.classified),
      goal: '> 0',
      ok: (v: number) => v > 0,
    },
    { name: `RESOURCE_EXHAUSTED p99 at ${top.multiplier}x, ms`, value: top.shedP99Ms ?? NaN, goal: '<= 10', ok: (v: number) => v <= 10 },
    {
      name: `OK p99 at ${top.multiplier}x vs OK p99 at ${base.multiplier}x (the highest multiple up to 1x where every call was answered OK)`,
      value: (top.okP99Ms ?? NaN) / (base.okP99Ms ?? NaN),
      goal: '<= 5',
      ok: (v: number) => v <= 5,
    },
    {
      name: `OK p99 at ${top.multiplier}x vs the deadline`,
      value: (top.okP99Ms ?? NaN) / DEADLINE_MS,
      goal: '<= 0.25',
      ok: (v: number) => v <= 0.25,
    },
    {
      name: `OK/s at ${top.multiplier}x vs capacity (goodput)`,
      value: top.okRate / capacity,
      goal: '>= 0.80',
      ok: (v: number) => v >= 0.8,
    },
    {
      name: `calls that ran out of their deadline at ${top.multiplier}x (share of the classified calls)`,
      value: top.deadline / Math.max(1, top.classified),
      goal: '<= 0.01',
      ok: (v: number) => v <= 0.01,
    },
    {
      name: `connections the server closed at ${top.multiplier}x`,
      value: top.reconnects,
      goal: '0',
      ok: (v: number) => v === 0,
    },
  ];

  const fmt = (v: number | null | undefined, d = 0): string =>
    v === null || v === undefined || Number.isNaN(v)
      ? ''
      : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  const date = new Date();
  const lines = [
    `# Quiver overload benchmark, ${date.toISOString()}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (${machine.hostname}). Node ${machine.node}. Commit ${machine.commit}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Machine load (1/5/15-min load averages; the generators, the server and other jobs share these cores): ${loadStart.load1} / ${loadStart.load5} / ${loadStart.load15} at the start, ${loadEnd.load1} / ${loadEnd.load5} / ${loadEnd.load15} at the end.`,
    `Server: \`quiver serve\` (${build.description}), ${MODEL_TEXT} as production-model, default limits${args['server-arg'].length === 0 ? '' : `, plus ${args['server-arg'].join(' ')}`}.`,
    `Load: Predict, one row; deadline ${DEADLINE_MS} ms (grpc-timeout); ${DURATION_S}s measured after ${WARMUP_S}s per run. Up to ${BULK_ABOVE}x: ${GENERATORS} Node generator processes x ${CONNECTIONS} HTTP/2 connections (node:http2, every grpc-status read, calls cancelled by the client at the deadline as gRPC clients do). Above ${BULK_ABOVE}x${args.bulk === 'h2load' ? `: h2load at a fixed rate (--rps; it neither reads grpc-status nor cancels) plus a Node probe of ${PROBE_RATE}/s that does` : ': the same Node generators'}.`,
    capacityRun === null
      ? `Capacity: ${capacity} req/s (given with --capacity).`
      : `Capacity: ${capacity} req/s answered OK in a closed loop (c=${CAPACITY_C}, same generators; p50 ${fmt(capacityRun.p50Ms, 2)} ms, p99 ${fmt(capacityRun.p99Ms, 2)} ms; server CPU ${capacityRun.serverCpuPct}%, generators ${capacityRun.generatorCpuPct}%).`,
    ...(h2loadCapacity === null
      ? []
      : [
          `For reference, h2load (a C client, far cheaper per call) in a closed loop at c=${CAPACITY_C}: ${fmt(h2loadCapacity.requestsPerSecond)} req/s, p50 ${fmt(h2loadCapacity.p50Us / 1000, 2)} ms, p99 ${fmt(h2loadCapacity.p99Us / 1000, 2)} ms.`,
        ]),
    ...(args.label === '' ? [] : [`Note: ${args.label}`]),
    '',
    'Rates per second over every call. Latencies in ms from the moment a call was sent, over the calls whose grpc-status was read ("classified": every call with the Node generators; a probe sample of ~' +
      `${PROBE_RATE}/s beside h2load's bulk load, which cannot read grpc-status, above ${BULK_ABOVE}x). "lag p99": how late the Node generators sent calls against their schedule (large = the rate was not really offered).`,
    '',
    '| load | generator | offered/s | sent/s | lag p99 | OK/s | not OK/s | classified | OK p50 | OK p99 | OK max | RESOURCE_EXHAUSTED | RE p50 | RE p99 | DEADLINE_EXCEEDED | other | conns closed by server | server CPU % | Node generators CPU % | server RSS start / max / end MiB | server drops shed / deadline / cancelled | prompt again after ms | load avg 1m |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...phases.map((p) => {
      const pct = (n: number): string => (p.classified === 0 ? '' : ` (${fmt((n / p.classified) * 100, 1)}%)`);
      return `| ${p.multiplier}x | ${p.generator} | ${fmt(p.offeredRate)} | ${fmt(p.sentRate)} | ${fmt(p.lagP99Ms, 1)} | ${fmt(p.okRate)} | ${fmt(p.failedRate)} | ${fmt(p.classified)} | ${fmt(p.okP50Ms, 2)} | ${fmt(p.okP99Ms, 2)} | ${fmt(p.okMaxMs, 1)} | ${fmt(p.shed)}${pct(p.shed)} | ${fmt(p.shedP50Ms, 2)} | ${fmt(p.shedP99Ms, 2)} | ${fmt(p.deadline)}${pct(p.deadline)}${p.deadlineClient === 0 ? '' : `, ${fmt(p.deadlineClient)} by the client`} | ${Object.entries(
        p.other,
      )
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(
          ', ',
        )} | ${p.reconnects} | ${p.serverCpuPct} | ${p.generatorCpuPct} | ${fmt(p.serverRssStartMiB, 1)} / ${fmt(p.serverRssMaxMiB, 1)} / ${fmt(p.serverRssEndMiB, 1)} | ${fmt(p.serverDrops.shed ?? 0)} / ${fmt(p.serverDrops.deadline ?? 0)} / ${fmt(p.serverDrops.cancelled ?? 0)} | ${fmt(p.recoveryMs)} | ${p.loadAvg.load1} |`;
    }),
    '',
    ...(phases.some((p) => p.bulk !== null)
      ? [
          'h2load bulk load (every call, outcome from the DATA bytes; latency over all outcomes):',
          '',
          '| load | connections x rate | started | done | OK | not OK | p50 ms | p99 ms |',
          '|---|---:|---:|---:|---:|---:|---:|---:|',
          ...phases
            .filter((p) => p.bulk !== null)
            .map((p) => {
              const b = p.bulk as BulkResult;
              return `| ${p.multiplier}x | ${b.connections} x ${fmt(b.ratePerConnection)}/s | ${fmt(b.started)} | ${fmt(b.done)} | ${fmt(b.ok)} | ${fmt(b.notOk)} | ${fmt(b.p50Ms, 2)} | ${fmt(b.p99Ms, 2)} |`;
            }),
          '',
        ]
      : []),
    '| check | measured | goal | |',
    '|---|---:|---|---|',
    ...checks.map(
      (c) => `| ${c.name} | ${fmt(c.value, 3)} | ${c.goal} | ${Number.isNaN(c.value) ? 'n/a' : c.ok(c.value) ? 'met' : 'MISSED'} |`,
    ),
    '',
    `Per second at ${top.multiplier}x (by due time; ${top.generator === 'node' ? 'every call' : 'the probe'}): calls due, and how they ended:`,
    '',
    '| s | due | OK | RESOURCE_EXHAUSTED | DEADLINE_EXCEEDED | other |',
    '|---:|---:|---:|---:|---:|---:|',
    ...top.timeline.map((slot, i) => {
      const otherN = Object.entries(slot)
        .filter(([k]) => !['due', 'OK', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED'].includes(k))
        .reduce((a, [, v]) => a + v, 0);
      return `| ${i + 1} | ${fmt(slot.due ?? 0)} | ${fmt(slot.OK ?? 0)} | ${fmt(slot.RESOURCE_EXHAUSTED ?? 0)} | ${fmt(slot.DEADLINE_EXCEEDED ?? 0)} | ${fmt(otherN)} |`;
    }),
    '',
  ];
  writeResults(ROOT, date, '-overload', lines.join('\n'), {
    date: date.toISOString(),
    machine,
    loadAverage: { start: loadStart, end: loadEnd },
    label: args.label,
    server: { build: build.description, args: serverArgs.filter((a) => !a.startsWith('production-model=')) },
    options: {
      durationS: DURATION_S,
      warmupS: WARMUP_S,
      deadlineMs: DEADLINE_MS,
      multipliers: MULTIPLIERS,
      generators: GENERATORS,
      connections: CONNECTIONS,
      capacityConcurrency: CAPACITY_C,
    },
    capacity,
    capacityRun,
    h2loadCapacity,
    phases,
    checks: checks.map((c) => ({ name: c.name, value: c.value, goal: c.goal, met: c.ok(c.value) })),
  });
}

await main();
