/** One run summed up: RSS levels, growth per cycle and per hour, requests, switch times (one row of the report's first table). */
import type { MemSample } from './memory.js';
import type { RunResult } from './records.js';
import { perVersionSlope, slope } from './slopes.js';

export interface Summary {
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

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;

/** RSS (and heap) growth over the cycles: fitted slopes, and from the warm-up to the last cycle. */
function cycleGrowth(r: RunResult, last: MemSample) {
  const xs = r.cycles.map((c) => c.cycle);
  const ys = r.cycles.map((c) => c.sample.rssMiB);
  const half = Math.floor(r.cycles.length / 2);
  const heap = r.cycles.map((c) => c.sample.heapUsedMiB);
  const native = perVersionSlope(r.cycles.slice(half), (c) => c.sample.nativeMiB);
  return {
    slopeMiBPerCycle: round(slope(xs, ys), 3),
    slopeSecondHalfMiBPerCycle: round(slope(xs.slice(half), ys.slice(half)), 3),
    sameVersionSlopeSecondHalfMiBPerCycle: round(perVersionSlope(r.cycles.slice(half), (c) => c.sample.rssMiB) ?? NaN, 3),
    nativeSlopeSecondHalfMiBPerCycle: native === null ? null : round(native, 3),
    cycleGrowthMiB: round(last.rssMiB - r.afterWarmup.rssMiB, 1),
    heapSlopeMiBPerCycle: heap.every((h) => h !== null) ? round(slope(xs, heap as number[]), 3) : null,
  };
}

/** RSS growth through the soak, first to last sample and fitted per hour (also after its first minute). */
function soakGrowth(r: RunResult) {
  const settled = r.soak.filter((s) => s.t >= (r.soak[0]?.t ?? 0) + 60);
  const perHour = (samples: readonly MemSample[]): number | null =>
    samples.length < 2
      ? null
      : round(
          slope(
            samples.map((s) => s.t / 3600),
            samples.map((s) => s.rssMiB),
          ),
          1,
        );
  return {
    soakGrowthMiB: r.soak.length < 2 ? null : round((r.soak.at(-1) as MemSample).rssMiB - (r.soak[0] as MemSample).rssMiB, 1),
    soakSlopeMiBPerHour: perHour(r.soak),
    soakSlopeAfterFirstMinuteMiBPerHour: perHour(settled),
  };
}

export function summarize(r: RunResult): Summary {
  const switches = r.cycles.map((c) => c.switchMs).filter((v): v is number => v !== null);
  const last = r.cycles.at(-1)?.sample ?? r.afterWarmup;
  return {
    run: r.name,
    rssStartMiB: r.start.rssMiB,
    rssAfterWarmupMiB: r.afterWarmup.rssMiB,
    rssAfterCyclesMiB: last.rssMiB,
    rssEndMiB: r.end.rssMiB,
    ...cycleGrowth(r, last),
    ...soakGrowth(r),
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
