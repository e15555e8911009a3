/**
 * The soak benchmark's results: the Markdown summary (benchmarks/results/<stamp>-soak.md)
 * and the raw JSON record (benchmarks/results/raw/), written by lib/machine.ts's writeResults.
 */
import { type MachineInfo, writeResults } from '../lib/machine.js';
import type { Artifact } from './models.js';
import type { SoakOptions } from './options.js';
import type { RunResult } from './records.js';
import type { Summary } from './summary.js';

/** Everything a finished benchmark reports. */
export interface SoakRun {
  readonly options: SoakOptions;
  readonly machine: MachineInfo;
  /** How the server was built (lib/quiver-process.ts), in words. */
  readonly buildDescription: string;
  readonly artifacts: readonly Artifact[];
  readonly runs: readonly RunResult[];
  readonly summaries: readonly Summary[];
}

const fmt = (v: number | null, d = 1): string =>
  v === null || Number.isNaN(v) ? '' : v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

/** Writes the Markdown summary (also to stdout) and the raw record, stamped with the current time. */
export function writeSoakResults(root: string, run: SoakRun): void {
  const { options: o, machine, artifacts, runs, summaries } = run;
  const date = new Date();
  const promote = runs.find((r) => r.promotions);
  const control = runs.find((r) => !r.promotions);
  const lines = [
    ...headerLines(run, date),
    ...summaryTableLines(summaries),
    ...promotionCostLines(summaries, o.cycles),
    ...cycleTableLines(promote, control),
    ...soakTableLines(promote, o.sampleS),
  ];
  writeResults(root, date, '-soak', lines.join('\n'), {
    date: date.toISOString(),
    machine,
    label: o.label,
    options: {
      minutes: o.minutes,
      cycles: o.cycles,
      rate: o.rate,
      inFlight: o.inFlight,
      warmupS: o.warmupS,
      cycleSeconds: o.cycleS,
      sampleS: o.sampleS,
      workers: o.workers ?? null,
      serverEnv: o.serverEnv,
      server: run.buildDescription,
    },
    models: artifacts.map(({ version, hidden, bytes, weightBytes }) => ({ version, hidden, bytes, weightBytes })),
    summaries,
    runs,
  });
}

/** The title, the machine, the server, the models, the load, and the machine's load averages. */
function headerLines(run: SoakRun, date: Date): string[] {
  const { options: o, machine, artifacts, summaries } = run;
  return [
    `# Quiver soak benchmark, ${date.toISOString()}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (${machine.hostname}). Node ${machine.node}. Commit ${machine.commit}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Server: \`quiver serve\` (${run.buildDescription}) in its own process, embedded registry, defaults${o.workers === undefined ? '' : `, --workers ${o.workers}`}${Object.keys(o.serverEnv).length === 0 ? '' : `, env ${JSON.stringify(o.serverEnv)}`}. RSS from /proc/<pid>/status (VmRSS), heap from its /metrics.`,
    `Models: ${artifacts.map((a) => `v${a.version} MLP 10-${a.hidden}-${a.hidden}-2 (${fmt(a.bytes / 2 ** 20)} MiB)`).join(', ')}.`,
    `Load: gRPC Predict at ${o.rate} req/s (open loop, at most ${o.inFlight} in flight) from a grpc-js client in another process, every grpc-status checked; ${o.warmupS}s warm-up; cycles of at least ${o.cycleS}s.`,
    `Machine load (1/5/15-min load averages; other jobs share this machine): ${summaries.map((s) => `${s.run} run from ${s.loadAvgStart} to ${s.loadAvgEnd}`).join('; ')}.`,
    ...(o.label === '' ? [] : [`Note: ${o.label}`]),
    '',
  ];
}

/** One row per run: RSS levels, slopes, the soak's growth, switch times, requests. */
function summaryTableLines(summaries: readonly Summary[]): string[] {
  return [
    '| run | RSS start | after warm-up | after cycles | end | growth over cycles | MiB/cycle (all) | MiB/cycle (2nd half) | same version, 2nd half | native (RSS - V8 heap), 2nd half | heap used MiB/cycle | soak growth | soak MiB/h (after its 1st minute) | switch ms mean / max | loaded / released | requests ok | failed |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...summaries.map(
      (s) =>
        `| ${s.run} | ${fmt(s.rssStartMiB)} | ${fmt(s.rssAfterWarmupMiB)} | ${fmt(s.rssAfterCyclesMiB)} | ${fmt(s.rssEndMiB)} | ${fmt(s.cycleGrowthMiB)} | ${fmt(s.slopeMiBPerCycle, 3)} | ${fmt(s.slopeSecondHalfMiBPerCycle, 3)} | ${fmt(s.sameVersionSlopeSecondHalfMiBPerCycle, 3)} | ${fmt(s.nativeSlopeSecondHalfMiBPerCycle, 3)} | ${fmt(s.heapSlopeMiBPerCycle, 3)} | ${fmt(s.soakGrowthMiB)} | ${fmt(s.soakSlopeMiBPerHour)}${s.soakSlopeAfterFirstMinuteMiBPerHour === null ? '' : ` (${fmt(s.soakSlopeAfterFirstMinuteMiBPerHour)})`} | ${s.meanSwitchMs === null ? '' : `${s.meanSwitchMs} / ${s.maxSwitchMs}`} | ${s.loadsLogged} / ${s.releasesLogged} | ${s.requestsOk.toLocaleString('en-US')} | ${s.requestsFailed}${Object.keys(s.failedByCode).length === 0 ? '' : ` (${JSON.stringify(s.failedByCode)})`} |`,
    ),
    '',
  ];
}

/** The promote run's slopes and level against the control's (none without a control run). */
function promotionCostLines(summaries: readonly Summary[], cycles: number): string[] {
  const p = summaries.find((x) => x.run === 'promote');
  const c = summaries.find((x) => x.run === 'control');
  if (p === undefined || c === undefined) return [];
  return [
    `Promotion cost beyond the control: ${fmt(p.slopeMiBPerCycle - c.slopeMiBPerCycle, 3)} MiB per cycle over all cycles, ${fmt(p.slopeSecondHalfMiBPerCycle - c.slopeSecondHalfMiBPerCycle, 3)} MiB per cycle over the second half (x ${cycles} cycles = ${fmt((p.slopeSecondHalfMiBPerCycle - c.slopeSecondHalfMiBPerCycle) * cycles)} MiB), ${fmt(p.sameVersionSlopeSecondHalfMiBPerCycle - c.sameVersionSlopeSecondHalfMiBPerCycle, 3)} MiB per cycle comparing the same served version. Level: the promote run ends its cycles ${fmt(p.rssAfterCyclesMiB - c.rssAfterCyclesMiB)} MiB above the control.`,
    '',
  ];
}

/** RSS and latency after each cycle, the promote run and the control side by side. */
function cycleTableLines(promote: RunResult | undefined, control: RunResult | undefined): string[] {
  return [
    'RSS in MiB after each cycle (promote: the version serving after it); p99 of the calls answered during the cycle, ms; load = 1-min load average:',
    '',
    `| cycle | promote: version | switch ms | RSS | native | heap used | p99 ms | load |${control === undefined ? '' : ' control: RSS | native | heap used | p99 ms | load |'}`,
    `|---:|---:|---:|---:|---:|---:|---:|---:|${control === undefined ? '' : '---:|---:|---:|---:|---:|'}`,
    ...(promote?.cycles ?? []).map((c, i) => {
      const k = control?.cycles[i];
      return `| ${c.cycle} | ${c.version} | ${c.switchMs ?? ''} | ${fmt(c.sample.rssMiB)} | ${fmt(c.sample.nativeMiB)} | ${fmt(c.sample.heapUsedMiB)} | ${fmt(c.p99Ms)} | ${fmt(c.sample.load1, 2)} |${control === undefined ? '' : ` ${fmt(k?.sample.rssMiB ?? null)} | ${fmt(k?.sample.nativeMiB ?? null)} | ${fmt(k?.sample.heapUsedMiB ?? null)} | ${fmt(k?.p99Ms ?? null)} | ${fmt(k?.sample.load1 ?? null, 2)} |`}`;
    }),
    '',
  ];
}

/** The promote run's soak, one row a minute (and the last sample); none without a soak. */
function soakTableLines(promote: RunResult | undefined, sampleS: number): string[] {
  if (promote === undefined || promote.soak.length === 0) return [];
  return [
    `Soak (the promote run's server, after its cycles), sampled every ${sampleS}s; one row a minute (p99 of the calls answered in the ${sampleS}s before the sample):`,
    '',
    '| t (s since server start) | RSS MiB | anon MiB | native MiB | heap used MiB | external MiB | threads | p99 ms | load |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...promote.soak
      .map((s, i) => ({ s, i, w: promote.soakWindows.find((w) => w.t === s.t) }))
      .filter(({ i }) => i % Math.max(1, Math.round(60 / sampleS)) === 0 || i === promote.soak.length - 1)
      .map(
        ({ s, w }) =>
          `| ${fmt(s.t)} | ${fmt(s.rssMiB)} | ${fmt(s.rssAnonMiB)} | ${fmt(s.nativeMiB)} | ${fmt(s.heapUsedMiB)} | ${fmt(s.externalMiB)} | ${s.threads} | ${fmt(w?.p99Ms ?? null)} | ${fmt(s.load1, 2)} |`,
      ),
    '',
  ];
}
