/**
 * One open-loop run at a multiple of the capacity: the load offered (the Node generators, or
 * h2load's bulk with a Node probe), what the server did meanwhile, and the run summed up as a
 * Phase for the report.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { type BulkResult, runH2loadOpen } from '../lib/h2load-open.js';
import { type Histogram, newHistogram, quantile } from '../lib/open-loop.js';
import { loadAverage, processMemory, type ServerProcess } from '../lib/quiver-process.js';
import { generate, type Merged } from './generators.js';
import type { OverloadOptions } from './options.js';
import { body, PATH } from './request.js';
import { cpuMsOf, dropCounters, recovery } from './server-side.js';

export interface Phase {
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

/** Milliseconds to two decimals. */
export const r2 = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);

/** h2load's share of a run above --bulk-above: the size of an answer, and where h2load writes its files. */
export interface Bulk {
  readonly responseBytes: number;
  readonly workDir: string;
}

/** What one run measured, before it is summed up. */
interface Measured {
  readonly m: Merged;
  readonly b: BulkResult | null;
  readonly serverCpuPct: number;
  readonly rssStart: number;
  readonly rssMax: number;
  readonly loadAvg: ReturnType<typeof loadAverage>;
  readonly recoveryMs: number | null;
  readonly serverDrops: Record<string, number>;
}

/** Runs the open loop at `multiplier` x `capacity` and sums it up; logs the outcome to stderr. */
export async function phase(
  options: OverloadOptions,
  server: ServerProcess,
  address: string,
  multiplier: number,
  capacity: number,
  bulk: Bulk | null,
): Promise<Phase> {
  const rate = multiplier * capacity;
  const probeRate = bulk === null ? 0 : Math.min(options.probeRate, rate / 2);
  process.stderr.write(
    `open loop ${multiplier}x = ${Math.round(rate)} req/s for ${options.durationS}s (+${options.warmupS}s warm-up)${bulk === null ? '' : `: h2load ${Math.round(rate - probeRate)}/s + probe ${Math.round(probeRate)}/s`}\n`,
  );
  const measured = await measure(options, server, address, rate, probeRate, bulk);
  const p = summarize(options, server, multiplier, rate, measured);
  logPhase(p);
  return p;
}

/** The load at `rate` (h2load's bulk and the probe at `probeRate`, or the Node generators alone), with the server's CPU, memory and drops meanwhile. */
async function measure(
  options: OverloadOptions,
  server: ServerProcess,
  address: string,
  rate: number,
  probeRate: number,
  bulk: Bulk | null,
): Promise<Measured> {
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
        durationS: options.durationS,
        warmupS: options.warmupS,
        deadlineMs: options.deadlineMs,
        ratePerConnection: options.bulkRatePerConnection,
        responseBytes: bulk.responseBytes,
        workDir: bulk.workDir,
      }),
    );
  };
  const m = await generate(
    options,
    'open',
    address,
    bulk === null ? rate : probeRate,
    0,
    options.durationS,
    options.warmupS,
    bulk === null ? options.generators : 1,
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
  return { m, b, serverCpuPct, rssStart, rssMax, loadAvg, recoveryMs, serverDrops };
}

function summarize(options: OverloadOptions, server: ServerProcess, multiplier: number, rate: number, measured: Measured): Phase {
  const { m, b, serverCpuPct, rssStart, rssMax, loadAvg, recoveryMs, serverDrops } = measured;
  const durationS = options.durationS;
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
  return {
    multiplier,
    generator: b === null ? 'node' : 'h2load+probe',
    offeredRate: Math.round(b === null ? m.due / durationS : rate),
    sentRate: Math.round((m.sentInWindow + (b?.started ?? 0)) / durationS),
    okRate: Math.round(okAll / durationS),
    failedRate: Math.round((doneAll - okAll) / durationS),
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
}

/** The run in one line to stderr, with h2load's own summary and the generators' notes. */
function logPhase(p: Phase): void {
  const { classified, other, serverCpuPct, recoveryMs, loadAvg, serverRssMaxMiB: rssMax, bulk: b } = p;
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
  if (p.errors.length > 0) process.stderr.write(`  notes: ${p.errors.join('; ')}\n`);
}
