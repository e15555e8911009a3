/**
 * The overload benchmark's results: the Markdown summary (benchmarks/results/<stamp>-overload.md)
 * and the raw JSON record (benchmarks/results/raw/), written by lib/machine.ts's writeResults.
 */
import type { BulkResult } from '../lib/h2load-open.js';
import type { MachineInfo } from '../lib/machine.js';
import { writeResults } from '../lib/machine.js';
import type { loadAverage } from '../lib/quiver-process.js';
import { type Check, claimChecks } from './checks.js';
import type { OverloadOptions } from './options.js';
import type { Phase } from './phase.js';

/** The closed-loop capacity run (absent when --capacity gave the capacity). */
export interface CapacityRun {
  readonly okRate: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly generatorCpuPct: number;
  readonly serverCpuPct: number;
}

/** h2load's closed-loop figure, for reference. */
export interface H2loadCapacity {
  readonly requestsPerSecond: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

/** Everything a finished benchmark reports. */
export interface OverloadRun {
  readonly options: OverloadOptions;
  readonly machine: MachineInfo;
  readonly loadStart: ReturnType<typeof loadAverage>;
  readonly loadEnd: ReturnType<typeof loadAverage>;
  /** How the server was built (lib/quiver-process.ts), in words. */
  readonly buildDescription: string;
  readonly serverArgs: readonly string[];
  readonly capacity: number;
  readonly capacityRun: CapacityRun | null;
  readonly h2loadCapacity: H2loadCapacity | null;
  readonly phases: readonly Phase[];
}

const fmt = (v: number | null | undefined, d = 0): string =>
  v === null || v === undefined || Number.isNaN(v) ? '' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/** Writes the Markdown summary (also to stdout) and the raw record, stamped with the current time. */
export function writeOverloadResults(root: string, run: OverloadRun): void {
  const { options: o, phases, capacity } = run;
  const { top, checks } = claimChecks(phases, capacity, o.deadlineMs);
  const date = new Date();
  const lines = [
    ...headerLines(run, date),
    ...phaseTableLines(phases),
    ...bulkTableLines(phases),
    ...checkLines(checks),
    ...timelineLines(top),
  ];
  const { machine, loadStart, loadEnd, serverArgs, capacityRun, h2loadCapacity } = run;
  writeResults(root, date, '-overload', lines.join('\n'), {
    date: date.toISOString(),
    machine,
    loadAverage: { start: loadStart, end: loadEnd },
    label: o.label,
    server: { build: run.buildDescription, args: serverArgs.filter((a) => !a.startsWith('production-model=')) },
    options: {
      durationS: o.durationS,
      warmupS: o.warmupS,
      deadlineMs: o.deadlineMs,
      multipliers: o.multipliers,
      generators: o.generators,
      connections: o.connections,
      capacityConcurrency: o.capacityConcurrency,
    },
    capacity,
    capacityRun,
    h2loadCapacity,
    phases,
    checks: checks.map((c) => ({ name: c.name, value: c.value, goal: c.goal, met: c.ok(c.value) })),
  });
}

/** The title, the machine, the server, the load, the capacity, and how to read the tables. */
function headerLines(run: OverloadRun, date: Date): string[] {
  const { options: o, machine, loadStart, loadEnd, capacity, capacityRun, h2loadCapacity } = run;
  return [
    `# Quiver overload benchmark, ${date.toISOString()}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (${machine.hostname}). Node ${machine.node}. Commit ${machine.commit}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Machine load (1/5/15-min load averages; the generators, the server and other jobs share these cores): ${loadStart.load1} / ${loadStart.load5} / ${loadStart.load15} at the start, ${loadEnd.load1} / ${loadEnd.load5} / ${loadEnd.load15} at the end.`,
    `Server: \`quiver serve\` (${run.buildDescription}), ${o.modelText} as production-model, default limits${o.serverArgs.length === 0 ? '' : `, plus ${o.serverArgs.join(' ')}`}.`,
    `Load: Predict, one row; deadline ${o.deadlineMs} ms (grpc-timeout); ${o.durationS}s measured after ${o.warmupS}s per run. Up to ${o.bulkAbove}x: ${o.generators} Node generator processes x ${o.connections} HTTP/2 connections (node:http2, every grpc-status read, calls cancelled by the client at the deadline as gRPC clients do). Above ${o.bulkAbove}x${o.bulk === 'h2load' ? `: h2load at a fixed rate (--rps; it neither reads grpc-status nor cancels) plus a Node probe of ${o.probeRate}/s that does` : ': the same Node generators'}.`,
    capacityRun === null
      ? `Capacity: ${capacity} req/s (given with --capacity).`
      : `Capacity: ${capacity} req/s answered OK in a closed loop (c=${o.capacityConcurrency}, same generators; p50 ${fmt(capacityRun.p50Ms, 2)} ms, p99 ${fmt(capacityRun.p99Ms, 2)} ms; server CPU ${capacityRun.serverCpuPct}%, generators ${capacityRun.generatorCpuPct}%).`,
    ...(h2loadCapacity === null
      ? []
      : [
          `For reference, h2load (a C client, far cheaper per call) in a closed loop at c=${o.capacityConcurrency}: ${fmt(h2loadCapacity.requestsPerSecond)} req/s, p50 ${fmt(h2loadCapacity.p50Us / 1000, 2)} ms, p99 ${fmt(h2loadCapacity.p99Us / 1000, 2)} ms.`,
        ]),
    ...(o.label === '' ? [] : [`Note: ${o.label}`]),
    '',
    'Rates per second over every call. Latencies in ms from the moment a call was sent, over the calls whose grpc-status was read ("classified": every call with the Node generators; a probe sample of ~' +
      `${o.probeRate}/s beside h2load's bulk load, which cannot read grpc-status, above ${o.bulkAbove}x). "lag p99": how late the Node generators sent calls against their schedule (large = the rate was not really offered).`,
    '',
  ];
}

/** One row per run: rates, latencies, outcomes, and the server's side. */
function phaseTableLines(phases: readonly Phase[]): string[] {
  return [
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
  ];
}

/** h2load's bulk load, for the runs it carried. */
function bulkTableLines(phases: readonly Phase[]): string[] {
  return [
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
  ];
}

function checkLines(checks: readonly Check[]): string[] {
  return [
    '| check | measured | goal | |',
    '|---|---:|---|---|',
    ...checks.map(
      (c) => `| ${c.name} | ${fmt(c.value, 3)} | ${c.goal} | ${Number.isNaN(c.value) ? 'n/a' : c.ok(c.value) ? 'met' : 'MISSED'} |`,
    ),
    '',
  ];
}

/** Second by second at the highest multiple: the calls due, and how they ended. */
function timelineLines(top: Phase): string[] {
  return [
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
}
