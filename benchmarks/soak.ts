/**
 * `npm run bench:soak`: memory over time. A Quiver server (compiled, from a snapshot of dist/;
 * see lib/quiver-process.ts) runs alone in a child process with the embedded registry in a
 * temp data directory, under steady gRPC Predict traffic from a
 * second process (benchmarks/lib/soak-load.ts), while this script reads the server's RSS from
 * /proc/<pid>/status and /proc/<pid>/smaps_rollup (and its V8 heap from /metrics):
 *
 *   A  promote: `cycles` promote/reload cycles alternating between two versions with
 *      different artifacts (MLPs with megabytes of weights; `quiver promote` from another
 *      process, as an operator would; the server follows the registry, loads and warms the
 *      new version, drains and releases the old one's onnxruntime sessions). RSS after each.
 *   B  soak: `minutes` at the same steady load on the same server, RSS every `sample` s.
 *   C  control: a fresh server, the same warm-up and the same number of cycles of the same
 *      length under the same load, each running a read-only CLI command instead of a
 *      promotion: what RSS does without session churn (the baseline for A's slope).
 *
 * Every call's grpc-status is checked; a run with a failed request exits non-zero. Writes
 * Markdown to benchmarks/results/<stamp>-soak.md (and the raw JSON under benchmarks/results/raw/).
 *
 * Options: --minutes 10 --cycles 50 --rate 400 (req/s) --in-flight 32 --warmup 30 (s)
 *          --cycle-seconds 5 --sample 10 (s) --hidden 1024,768 --workers N --no-control
 *          --label TEXT (a note in the report) --server-env K=V (repeatable; extra server env)
 *          --source (run src/ under tsx instead of dist/)
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { machineInfo, writeResults } from './lib/machine.js';
import { buildMlpModel, mlpWeightBytes } from './lib/mlp-model.js';
import {
  loadAverage,
  type ProcessMemory,
  processMemory,
  type QuiverBuild,
  quiverBuild,
  quiverCli,
  type ServerProcess,
  startQuiver,
  stopQuiver,
} from './lib/quiver-process.js';
import type { LoadStats } from './lib/soak-load.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MODEL = 'soak';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    cycles: { type: 'string', default: '50' },
    rate: { type: 'string', default: '400' },
    'in-flight': { type: 'string', default: '32' },
    warmup: { type: 'string', default: '30' },
    'cycle-seconds': { type: 'string', default: '5' },
    sample: { type: 'string', default: '10' },
    hidden: { type: 'string', default: '1024,768' },
    workers: { type: 'string' },
    'no-control': { type: 'boolean', default: false },
    label: { type: 'string', default: '' },
    'server-env': { type: 'string', multiple: true, default: [] },
    source: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(args.minutes);
const CYCLES = Number(args.cycles);
const RATE = Number(args.rate);
const IN_FLIGHT = Number(args['in-flight']);
const WARMUP_S = Number(args.warmup);
const CYCLE_S = Number(args['cycle-seconds']);
const SAMPLE_S = Number(args.sample);
const HIDDEN = args.hidden.split(',').map(Number);
const SERVER_ENV = Object.fromEntries(args['server-env'].map((kv) => [kv.split('=')[0] as string, kv.split('=').slice(1).join('=')]));
if (HIDDEN.length < 2 || HIDDEN.some((h) => !(h > 0))) throw new Error('--hidden needs two or more sizes, e.g. 1024,768');
// The server and the CLI run from a snapshot of dist/ (or src/ under tsx with --source).
const build: QuiverBuild = quiverBuild(ROOT, args.source);

// ---------------------------------------------------------------------------------------
// Memory readings

interface MemSample extends ProcessMemory {
  /** Seconds since the server logged 'quiver serving'. */
  readonly t: number;
  readonly phase: string;
  readonly cycle: number | null;
  readonly heapUsedMiB: number | null;
  /** V8's JS heap as reserved (what it contributes to RSS, roughly). */
  readonly heapTotalMiB: number | null;
  /** RSS minus the V8 heap total: onnxruntime, buffers, code, stacks (where a native leak shows). */
  readonly nativeMiB: number | null;
  readonly externalMiB: number | null;
  /** The machine's 1-minute load average when sampled (others share this machine). */
  readonly load1: number;
}

async function readMemory(pid: number, metricsPort: number | null): Promise<Omit<MemSample, 't' | 'phase' | 'cycle'>> {
  const mem = processMemory(pid);
  let heapUsed: number | null = null;
  let heapTotal: number | null = null;
  let external: number | null = null;
  if (metricsPort !== null) {
    try {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const metric = (name: string): number | null => {
        const m = new RegExp(`^${name} ([0-9.e+]+)`, 'm').exec(text);
        return m === null ? null : Math.round((Number(m[1]) / 2 ** 20) * 10) / 10;
      };
      heapUsed = metric('nodejs_heap_size_used_bytes');
      heapTotal = metric('nodejs_heap_size_total_bytes');
      external = metric('nodejs_external_memory_bytes');
    } catch {
      // metrics off or not answering: RSS is what matters
    }
  }
  const nativeMiB = heapTotal === null ? null : Math.round((mem.rssMiB - heapTotal) * 10) / 10;
  return { ...mem, heapUsedMiB: heapUsed, heapTotalMiB: heapTotal, nativeMiB, externalMiB: external, load1: loadAverage().load1 };
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

// ---------------------------------------------------------------------------------------
// The server, the CLI and the load

function startServer(dataDir: string): Promise<ServerProcess> {
  const extra = args.workers === undefined ? [] : ['--workers', args.workers];
  return startQuiver(
    build,
    [
      '--data-dir',
      dataDir,
      '--grpc-host',
      '127.0.0.1',
      '--grpc-port',
      '0',
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--metrics-port',
      '0',
      // The registry plane's own port (default 50052) must not collide with anything else.
      '--registry-port',
      '0',
      ...extra,
    ],
    SERVER_ENV,
  );
}

const quiver = (cliArgs: string[]): Promise<string> => quiverCli(build, cliArgs);

interface Load {
  stats(): Promise<LoadStats>;
  stop(): Promise<LoadStats>;
}

async function startLoad(grpcPort: number): Promise<Load> {
  const child = fork(join(ROOT, 'benchmarks/lib/soak-load.ts'), [`127.0.0.1:${grpcPort}`, String(RATE), String(IN_FLIGHT), MODEL], {
    cwd: ROOT,
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // One reply awaited at a time (stats, then stop): a single listener settles it.
  let waiting: { type: string; resolve: (s: LoadStats) => void; reject: (e: Error) => void } | undefined;
  let ready: (() => void) | undefined;
  let exited: Error | undefined;
  child.on('message', (m: { type: string; stats?: LoadStats }) => {
    if (m.type === 'ready') ready?.();
    else if (waiting !== undefined && m.type === waiting.type && m.stats !== undefined) {
      const w = waiting;
      waiting = undefined;
      w.resolve(m.stats);
    }
  });
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => {
      exited = new Error(`the load process exited (${code})`);
      reject(exited);
      waiting?.reject(exited);
    });
  });
  await started;
  const ask = (type: string, message: string): Promise<LoadStats> => {
    if (exited !== undefined) return Promise.reject(exited);
    if (waiting !== undefined) return Promise.reject(new Error(`load: '${type}' asked while '${waiting.type}' is pending`));
    return new Promise<LoadStats>((resolve, reject) => {
      waiting = { type, resolve, reject };
      child.send(message);
    });
  };
  return { stats: () => ask('stats', 'stats'), stop: () => ask('final', 'stop') };
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------
// One server's run: warm-up, cycles (promotions or control), optionally the soak

interface CycleRecord {
  readonly cycle: number;
  /** The version serving after the cycle. */
  readonly version: number;
  /** Promotion command to the old version's release, ms (promote runs only). */
  readonly switchMs: number | null;
  readonly sample: MemSample;
  readonly windowOk: number;
  readonly p99Ms: number | null;
}

interface RunResult {
  readonly name: string;
  readonly promotions: boolean;
  readonly start: MemSample;
  readonly afterWarmup: MemSample;
  readonly cycles: CycleRecord[];
  readonly soak: MemSample[];
  /** Load during each soak sample's window: answered calls and their p99. */
  readonly soakWindows: ReadonlyArray<{ readonly t: number; readonly windowOk: number; readonly p99Ms: number | null }>;
  readonly end: MemSample;
  readonly load: LoadStats;
  readonly loadsLogged: number;
  readonly releasesLogged: number;
  readonly cycleSeconds: number;
  readonly loadAvgStart: ReturnType<typeof loadAverage>;
  readonly loadAvgEnd: ReturnType<typeof loadAverage>;
}

async function runServer(
  name: string,
  dataDir: string,
  promotions: boolean,
  soakMinutes: number,
  firstVersion: number,
): Promise<RunResult> {
  process.stderr.write(`[${name}] starting a server\n`);
  const loadAvgStart = loadAverage();
  const server = await startServer(dataDir);
  const sample = async (phase: string, cycle: number | null): Promise<MemSample> => ({
    t: Math.round((performance.now() - server.startedAt) / 100) / 10,
    phase,
    cycle,
    ...(await readMemory(server.pid, server.metricsPort)),
  });
  try {
    const start = await sample('start', null);
    const load = await startLoad(server.grpcPort);
    process.stderr.write(`[${name}] pid ${server.pid}, RSS ${start.rssMiB} MiB at start; warming up ${WARMUP_S}s at ${RATE} req/s\n`);
    await sleep(WARMUP_S * 1000);
    const warm = await load.stats();
    const afterWarmup = await sample('warm-up', null);
    process.stderr.write(`[${name}] after warm-up: RSS ${afterWarmup.rssMiB} MiB, ${warm.ok} ok, ${warm.failed} failed\n`);

    const cycles: CycleRecord[] = [];
    let current = firstVersion;
    const versions = HIDDEN.map((_, i) => i + 1);
    for (let i = 1; i <= CYCLES; i++) {
      const t0 = Date.now();
      let switchMs: number | null = null;
      if (promotions) {
        const target = versions[(versions.indexOf(current) + 1) % versions.length] as number;
        const seen = server.events.length;
        const released = (): boolean =>
          server.events.slice(seen).some((e) => e.msg === 'model version released' && e.model === MODEL && e.version === current);
        await quiver(['promote', '--data-dir', dataDir, '--model-name', MODEL, '--version', String(target), '--stage', 'Production']);
        await waitFor(released, 60_000, `version ${current} to be released after promoting ${target}`);
        switchMs = Date.now() - t0;
        current = target;
      } else {
        // The same CLI start-up cost as a promotion, without touching what is served.
        await quiver(['registry', 'versions', '--data-dir', dataDir, '--model-name', MODEL]);
      }
      await sleep(Math.max(250, CYCLE_S * 1000 - (Date.now() - t0)));
      const window = await load.stats();
      const s = await sample(promotions ? 'promote' : 'control', i);
      cycles.push({ cycle: i, version: current, switchMs, sample: s, windowOk: window.windowOk, p99Ms: window.windowP99Ms });
      process.stderr.write(
        `[${name}] cycle ${i}/${CYCLES}: v${current}${switchMs === null ? '' : ` (switched in ${switchMs} ms)`}, RSS ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, ${window.failed} failed so far\n`,
      );
      if (window.failed > 0) process.stderr.write(`[${name}] failures: ${window.errors.join('; ')}\n`);
    }

    const soak: MemSample[] = [];
    const soakWindows: Array<{ readonly t: number; readonly windowOk: number; readonly p99Ms: number | null }> = [];
    if (soakMinutes > 0) {
      await load.stats(); // start the first window with the soak
      const t0 = Date.now();
      soak.push(await sample('soak', null));
      process.stderr.write(`[${name}] soak: ${soakMinutes} min, RSS every ${SAMPLE_S}s\n`);
      while (Date.now() - t0 < soakMinutes * 60_000) {
        await sleep(Math.min(SAMPLE_S * 1000, soakMinutes * 60_000 - (Date.now() - t0)));
        const s = await sample('soak', null);
        soak.push(s);
        const w = await load.stats();
        soakWindows.push({ t: s.t, windowOk: w.windowOk, p99Ms: w.windowP99Ms });
        if (soak.length % 6 === 1 || w.failed > 0)
          process.stderr.write(
            `[${name}] soak ${Math.round((Date.now() - t0) / 1000)}s: RSS ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, ${w.failed} failed so far\n`,
          );
      }
    }
    const final = await load.stop();
    const end = await sample('end', null);
    const count = (msg: string): number => server.events.filter((e) => e.msg === msg && e.model === MODEL).length;
    return {
      name,
      promotions,
      start,
      afterWarmup,
      cycles,
      soak,
      soakWindows,
      end,
      load: final,
      loadsLogged: count('model version loaded'),
      releasesLogged: count('model version released'),
      cycleSeconds: CYCLE_S,
      loadAvgStart,
      loadAvgEnd: loadAverage(),
    };
  } finally {
    await stopQuiver(server);
  }
}

// ---------------------------------------------------------------------------------------

interface Summary {
  readonly run: string;
  readonly rssStartMiB: number;
  readonly rssAfterWarmupMiB: number;
  readonly rssAfterCyclesMiB: number;
  readonly rssEndMiB: number;
  /** MiB per cycle, least squares over every cycle, and over the second half only. */
  readonly slopeMiBPerCycle: number;
  readonly slopeSecondHalfMiBPerCycle: number;
  /**
   * Second half, fitted per serving version and averaged (RSS differs by the version served,
   * which alternates): the per-cycle growth with the version's own footprint taken out.
   */
  readonly sameVersionSlopeSecondHalfMiBPerCycle: number;
  /** The same for RSS minus the V8 heap (native memory). */
  readonly nativeSlopeSecondHalfMiBPerCycle: number | null;
  readonly cycleGrowthMiB: number;
  readonly heapSlopeMiBPerCycle: number | null;
  /** Soak: growth from its first to its last sample, and the fitted slope in MiB/hour. */
  readonly soakGrowthMiB: number | null;
  readonly soakSlopeMiBPerHour: number | null;
  /** The soak's slope leaving out its first minute (settling after the last cycle). */
  readonly soakSlopeAfterFirstMinuteMiBPerHour: number | null;
  readonly requestsOk: number;
  readonly requestsFailed: number;
  readonly failedByCode: Readonly<Record<string, number>>;
  readonly skipped: number;
  readonly meanSwitchMs: number | null;
  readonly maxSwitchMs: number | null;
  readonly loadsLogged: number;
  readonly releasesLogged: number;
  /** The machine's load averages (1/5/15 min) when the run started and ended. */
  readonly loadAvgStart: string;
  readonly loadAvgEnd: string;
}

/** Least-squares slope fitted for each serving version separately, averaged over versions. */
function perVersionSlope(cycles: readonly CycleRecord[], y: (c: CycleRecord) => number | null): number | null {
  const slopes: number[] = [];
  for (const v of new Set(cycles.map((c) => c.version))) {
    const own = cycles.filter((c) => c.version === v && y(c) !== null);
    if (own.length >= 3)
      slopes.push(
        slope(
          own.map((c) => c.cycle),
          own.map((c) => y(c) as number),
        ),
      );
  }
  return slopes.length === 0 ? null : slopes.reduce((a, b) => a + b, 0) / slopes.length;
}

function summarize(r: RunResult): Summary {
  const xs = r.cycles.map((c) => c.cycle);
  const ys = r.cycles.map((c) => c.sample.rssMiB);
  const half = Math.floor(r.cycles.length / 2);
  const heap = r.cycles.map((c) => c.sample.heapUsedMiB);
  const switches = r.cycles.map((c) => c.switchMs).filter((v): v is number => v !== null);
  const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;
  const soakX = r.soak.map((s) => s.t / 3600);
  const settled = r.soak.filter((s) => s.t >= (r.soak[0]?.t ?? 0) + 60);
  const last = r.cycles.at(-1)?.sample ?? r.afterWarmup;
  return {
    run: r.name,
    rssStartMiB: r.start.rssMiB,
    rssAfterWarmupMiB: r.afterWarmup.rssMiB,
    rssAfterCyclesMiB: last.rssMiB,
    rssEndMiB: r.end.rssMiB,
    slopeMiBPerCycle: round(slope(xs, ys), 3),
    slopeSecondHalfMiBPerCycle: round(slope(xs.slice(half), ys.slice(half)), 3),
    sameVersionSlopeSecondHalfMiBPerCycle: round(perVersionSlope(r.cycles.slice(half), (c) => c.sample.rssMiB) ?? NaN, 3),
    nativeSlopeSecondHalfMiBPerCycle: ((v) => (v === null ? null : round(v, 3)))(
      perVersionSlope(r.cycles.slice(half), (c) => c.sample.nativeMiB),
    ),
    cycleGrowthMiB: round(last.rssMiB - r.afterWarmup.rssMiB, 1),
    heapSlopeMiBPerCycle: heap.every((h) => h !== null) ? round(slope(xs, heap as number[]), 3) : null,
    soakGrowthMiB: r.soak.length < 2 ? null : round((r.soak.at(-1) as MemSample).rssMiB - (r.soak[0] as MemSample).rssMiB, 1),
    soakSlopeMiBPerHour:
      r.soak.length < 2
        ? null
        : round(
            slope(
              soakX,
              r.soak.map((s) => s.rssMiB),
            ),
            1,
          ),
    soakSlopeAfterFirstMinuteMiBPerHour:
      settled.length < 2
        ? null
        : round(
            slope(
              settled.map((s) => s.t / 3600),
              settled.map((s) => s.rssMiB),
            ),
            1,
          ),
    requestsOk: r.load.ok,
    requestsFailed: r.load.failed,
    failedByCode: r.load.failedByCode,
    skipped: r.load.skipped,
    meanSwitchMs: switches.length === 0 ? null : Math.round(switches.reduce((a, b) => a + b, 0) / switches.length),
    maxSwitchMs: switches.length === 0 ? null : Math.max(...switches),
    loadsLogged: r.loadsLogged,
    releasesLogged: r.releasesLogged,
    loadAvgStart: `${r.loadAvgStart.load1} / ${r.loadAvgStart.load5} / ${r.loadAvgStart.load15}`,
    loadAvgEnd: `${r.loadAvgEnd.load1} / ${r.loadAvgEnd.load5} / ${r.loadAvgEnd.load15}`,
  };
}

async function main(): Promise<void> {
  const machine = machineInfo(ROOT);
  process.stderr.write(
    `soak: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; ${CYCLES} cycles, ${MINUTES} min soak, ${RATE} req/s\n`,
  );
  const work = mkdtempSync(join(tmpdir(), 'quiver-soak-'));
  const dataDir = join(work, 'data');
  const runs: RunResult[] = [];
  let artifacts: Array<{ version: number; hidden: number; path: string; bytes: number; weightBytes: number }>;
  try {
    artifacts = HIDDEN.map((hidden, i) => {
      const path = join(work, `mlp-${hidden}-${i + 1}.onnx`);
      const bytes = buildMlpModel(hidden, i + 1);
      writeFileSync(path, bytes);
      return { version: i + 1, hidden, path, bytes: bytes.byteLength, weightBytes: mlpWeightBytes(hidden) };
    });
    for (const a of artifacts) {
      await quiver([
        'registry',
        'upload',
        '--data-dir',
        dataDir,
        '--model-name',
        MODEL,
        '--file',
        a.path,
        '--description',
        `MLP hidden ${a.hidden}`,
      ]);
    }
    await quiver(['promote', '--data-dir', dataDir, '--model-name', MODEL, '--version', '1', '--stage', 'Production']);
    const promote = await runServer('promote', dataDir, true, MINUTES, 1);
    runs.push(promote);
    if (!args['no-control']) {
      const serving = promote.cycles.at(-1)?.version ?? 1;
      runs.push(await runServer('control', dataDir, false, 0, serving));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    build.cleanup();
  }

  const summaries = runs.map(summarize);
  const failed = summaries.reduce((a, s) => a + s.requestsFailed, 0);
  const fmt = (v: number | null, d = 1): string =>
    v === null || Number.isNaN(v) ? '' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  const date = new Date();
  const promote = runs.find((r) => r.promotions);
  const control = runs.find((r) => !r.promotions);
  const promoteSummary = summaries.find((x) => x.run === 'promote');
  const controlSummary = summaries.find((x) => x.run === 'control');
  const lines = [
    `# Quiver soak benchmark, ${date.toISOString()}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (${machine.hostname}). Node ${machine.node}. Commit ${machine.commit}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Server: \`quiver serve\` (${build.description}) in its own process, embedded registry, defaults${args.workers === undefined ? '' : `, --workers ${args.workers}`}${Object.keys(SERVER_ENV).length === 0 ? '' : `, env ${JSON.stringify(SERVER_ENV)}`}. RSS from /proc/<pid>/status (VmRSS), heap from its /metrics.`,
    `Models: ${artifacts.map((a) => `v${a.version} MLP 10-${a.hidden}-${a.hidden}-2 (${fmt(a.bytes / 2 ** 20)} MiB)`).join(', ')}.`,
    `Load: gRPC Predict at ${RATE} req/s (open loop, at most ${IN_FLIGHT} in flight) from a grpc-js client in another process, every grpc-status checked; ${WARMUP_S}s warm-up; cycles of at least ${CYCLE_S}s.`,
    `Machine load (1/5/15-min load averages; other jobs share this machine): ${summaries.map((s) => `${s.run} run from ${s.loadAvgStart} to ${s.loadAvgEnd}`).join('; ')}.`,
    ...(args.label === '' ? [] : [`Note: ${args.label}`]),
    '',
    '| run | RSS start | after warm-up | after cycles | end | growth over cycles | MiB/cycle (all) | MiB/cycle (2nd half) | same version, 2nd half | native (RSS - V8 heap), 2nd half | heap used MiB/cycle | soak growth | soak MiB/h (after its 1st minute) | switch ms mean / max | loaded / released | requests ok | failed |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...summaries.map(
      (s) =>
        `| ${s.run} | ${fmt(s.rssStartMiB)} | ${fmt(s.rssAfterWarmupMiB)} | ${fmt(s.rssAfterCyclesMiB)} | ${fmt(s.rssEndMiB)} | ${fmt(s.cycleGrowthMiB)} | ${fmt(s.slopeMiBPerCycle, 3)} | ${fmt(s.slopeSecondHalfMiBPerCycle, 3)} | ${fmt(s.sameVersionSlopeSecondHalfMiBPerCycle, 3)} | ${fmt(s.nativeSlopeSecondHalfMiBPerCycle, 3)} | ${fmt(s.heapSlopeMiBPerCycle, 3)} | ${fmt(s.soakGrowthMiB)} | ${fmt(s.soakSlopeMiBPerHour)}${s.soakSlopeAfterFirstMinuteMiBPerHour === null ? '' : ` (${fmt(s.soakSlopeAfterFirstMinuteMiBPerHour)})`} | ${s.meanSwitchMs === null ? '' : `${s.meanSwitchMs} / ${s.maxSwitchMs}`} | ${s.loadsLogged} / ${s.releasesLogged} | ${s.requestsOk.toLocaleString('en-US')} | ${s.requestsFailed}${Object.keys(s.failedByCode).length === 0 ? '' : ` (${JSON.stringify(s.failedByCode)})`} |`,
    ),
    '',
    ...(promoteSummary === undefined || controlSummary === undefined
      ? []
      : [
          `Promotion cost beyond the control: ${fmt(promoteSummary.slopeMiBPerCycle - controlSummary.slopeMiBPerCycle, 3)} MiB per cycle over all cycles, ${fmt(promoteSummary.slopeSecondHalfMiBPerCycle - controlSummary.slopeSecondHalfMiBPerCycle, 3)} MiB per cycle over the second half (x ${CYCLES} cycles = ${fmt((promoteSummary.slopeSecondHalfMiBPerCycle - controlSummary.slopeSecondHalfMiBPerCycle) * CYCLES)} MiB), ${fmt(promoteSummary.sameVersionSlopeSecondHalfMiBPerCycle - controlSummary.sameVersionSlopeSecondHalfMiBPerCycle, 3)} MiB per cycle comparing the same served version. Level: the promote run ends its cycles ${fmt(promoteSummary.rssAfterCyclesMiB - controlSummary.rssAfterCyclesMiB)} MiB above the control.`,
          '',
        ]),
    'RSS in MiB after each cycle (promote: the version serving after it); p99 of the calls answered during the cycle, ms; load = 1-min load average:',
    '',
    `| cycle | promote: version | switch ms | RSS | native | heap used | p99 ms | load |${control === undefined ? '' : ' control: RSS | native | heap used | p99 ms | load |'}`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|${control === undefined ? '' : '---:|---:|---:|---:|---:|'}`,
    ...(promote?.cycles ?? []).map((c, i) => {
      const k = control?.cycles[i];
      return `| ${c.cycle} | ${c.version} | ${c.switchMs ?? ''} | ${fmt(c.sample.rssMiB)} | ${fmt(c.sample.nativeMiB)} | ${fmt(c.sample.heapUsedMiB)} | ${fmt(c.p99Ms)} | ${fmt(c.sample.load1, 2)} |${control === undefined ? '' : ` ${fmt(k?.sample.rssMiB ?? null)} | ${fmt(k?.sample.nativeMiB ?? null)} | ${fmt(k?.sample.heapUsedMiB ?? null)} | ${fmt(k?.p99Ms ?? null)} | ${fmt(k?.sample.load1 ?? null, 2)} |`}`;
    }),
    '',
    ...(promote === undefined || promote.soak.length === 0
      ? []
      : [
          `Soak (the promote run's server, after its cycles), sampled every ${SAMPLE_S}s; one row a minute (p99 of the calls answered in the ${SAMPLE_S}s before the sample):`,
          '',
          '| t (s since server start) | RSS MiB | anon MiB | native MiB | heap used MiB | external MiB | threads | p99 ms | load |',
          '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
          ...promote.soak
            .map((s, i) => ({ s, i, w: promote.soakWindows.find((w) => w.t === s.t) }))
            .filter(({ i }) => i % Math.max(1, Math.round(60 / SAMPLE_S)) === 0 || i === promote.soak.length - 1)
            .map(
              ({ s, w }) =>
                `| ${fmt(s.t)} | ${fmt(s.rssMiB)} | ${fmt(s.rssAnonMiB)} | ${fmt(s.nativeMiB)} | ${fmt(s.heapUsedMiB)} | ${fmt(s.externalMiB)} | ${s.threads} | ${fmt(w?.p99Ms ?? null)} | ${fmt(s.load1, 2)} |`,
            ),
          '',
        ]),
  ];
  writeResults(ROOT, date, '-soak', lines.join('\n'), {
    date: date.toISOString(),
    machine,
    label: args.label,
    options: {
      minutes: MINUTES,
      cycles: CYCLES,
      rate: RATE,
      inFlight: IN_FLIGHT,
      warmupS: WARMUP_S,
      cycleSeconds: CYCLE_S,
      sampleS: SAMPLE_S,
      workers: args.workers ?? null,
      serverEnv: SERVER_ENV,
      server: build.description,
    },
    models: artifacts.map(({ version, hidden, bytes, weightBytes }) => ({ version, hidden, bytes, weightBytes })),
    summaries,
    runs,
  });
  if (failed > 0) {
    process.stderr.write(`${failed} requests failed\n`);
    process.exitCode = 1;
  }
}

await main();
