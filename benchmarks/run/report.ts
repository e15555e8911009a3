/**
 * The throughput benchmark's results: the Markdown table and target ratios
 * (benchmarks/results/<stamp>.md) and the raw JSON record (benchmarks/results/raw/),
 * written by lib/machine.ts's writeResults.
 */
import { type MachineInfo, writeResults } from '../lib/machine.js';
import type { Row } from './measure.js';
import { DURATION, WARMUP } from './options.js';
import { OPEN_LOOP_DURATION_S } from './open-loop-server.js';
import { goalText, met, type Target, verdict } from './target.js';

/** Everything a finished run reports. */
export interface BenchRun {
  readonly machine: MachineInfo;
  /** h2load's version line. */
  readonly h2load: string;
  /** wrk's version line; null when wrk is missing (no REST rows). */
  readonly wrk: string | null;
  readonly rows: readonly Row[];
  readonly targets: readonly Target[];
}

const fmt = (v: number | null, digits = 0): string =>
  v === null || Number.isNaN(v) ? '' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Writes the Markdown (also to stdout) and the raw record, stamped with the current time. */
export function writeBenchResults(root: string, run: BenchRun): void {
  const { machine, h2load, rows, targets } = run;
  const lines = [...headerLines(run), ...rowTableLines(rows), ...ratioTableLines(targets)];
  writeResults(root, new Date(), '', lines.join('\n'), {
    date: new Date().toISOString(),
    machine,
    h2load,
    durationS: DURATION,
    warmupS: WARMUP,
    rows,
    targets: targets.map((t) => ({ name: t.name, value: t.value, goal: goalText(t), met: met(t), verdict: verdict(t) })),
  });
}

/** The title, the machine, the packages and the load generators. */
function headerLines({ machine, h2load, wrk }: BenchRun): string[] {
  return [
    `# Quiver benchmark, ${new Date().toISOString()}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (${machine.hostname}). Node ${machine.node}. ${h2load}. Commit ${machine.commit}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Load: gRPC rows with h2load (1 connection, c concurrent streams, ${DURATION}s after ${WARMUP}s warm-up; req/s and rows/s count the calls answered OK); REST rows with ${wrk ?? 'wrk (missing)'} (c connections, ${DURATION}s). The load generator shares the machine's cores with the server.`,
    `Overload rows (i), as \`npm run bench:overload\` runs them: capacity from Node generators in a closed loop; then an open loop at the multiple shown (h2load's bulk, plus a 500/s Node probe that reads grpc-status and gives the latencies), each call with a 1 s deadline, ${OPEN_LOOP_DURATION_S}s after ${WARMUP}s warm-up. Their latencies are the probe's.`,
    '',
  ];
}

function rowTableLines(rows: readonly Row[]): string[] {
  return [
    '| target | c | req/s | rows/s | p50 µs | p99 µs | failed |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.target} | ${r.concurrency ?? ''} | ${fmt(r.requestsPerSecond)} | ${fmt(r.rowsPerSecond)} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${r.failed} |`,
    ),
    '',
  ];
}

function ratioTableLines(targets: readonly Target[]): string[] {
  return [
    '| target | measured | goal | |',
    '|---|---:|---|---|',
    ...targets.map((t) => `| ${t.name} | ${fmt(t.value, 2)} | ${goalText(t)} | ${verdict(t)} |`),
    '',
  ];
}
