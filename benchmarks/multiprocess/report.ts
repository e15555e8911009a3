/**
 * The multiprocess benchmark's results: every measurement in run order, then per call the
 * mean of each server shape over the rounds and each shape's ratio to the first (one process,
 * Quiver's defaults) round by round. OK/s per server core is the efficiency figure: the load
 * generator shares the cores, so a shape with more threads also wins a larger share of them; written as benchmarks/results/<stamp>-multiprocess.md
 * (and the raw JSON under benchmarks/results/raw/) by lib/machine.ts's writeResults.
 */
import { type MachineInfo, writeResults } from '../lib/machine.js';
import type { Load, Measurement } from './measure.js';
import type { Shape } from './servers.js';

export interface Entry {
  readonly round: number;
  readonly shape: Shape;
  readonly call: string;
  readonly result: Measurement;
}

export interface MultiprocessRun {
  readonly machine: MachineInfo;
  readonly h2load: string;
  readonly build: string;
  readonly load: Omit<Load, 'workDir'>;
  readonly rounds: number;
  readonly shapes: readonly Shape[];
  readonly calls: readonly string[];
  readonly entries: readonly Entry[];
  /** The machine's load averages before the first run and after the last (anything else running shows here). */
  readonly loadBefore: string;
  readonly loadAfter: string;
}

const fmt = (v: number, digits = 0): string => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export function writeMultiprocessResults(root: string, run: MultiprocessRun): void {
  const lines = [...headerLines(run), ...entryLines(run), ...summaryLines(run)];
  writeResults(root, new Date(), '-multiprocess', lines.join('\n'), { date: new Date().toISOString(), ...run });
}

function headerLines({ machine, h2load, build, load, rounds, loadBefore, loadAfter }: MultiprocessRun): string[] {
  return [
    `# Quiver multiprocess benchmark, ${new Date().toISOString()}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (${machine.hostname}). Node ${machine.node}. ${h2load}. Commit ${machine.commit}; server ${build}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Load: h2load, ${load.connections} connections x ${Math.ceil(load.concurrency / load.connections)} streams (${load.concurrency} calls in flight), ${load.durationS}s after ${load.warmupS}s warm-up, per call and server shape; ${rounds} rounds, the shapes alternating within each. The load generator shares the machine's cores with the server.`,
    `Cores used during each load (warm-up included), from /proc: each Quiver process, the server in all (a cluster primary included), the machine in all (server, h2load and anything else). Load average before: ${loadBefore}; after: ${loadAfter}.`,
    '',
  ];
}

function entryLines({ entries }: MultiprocessRun): string[] {
  return [
    '| round | server | call | OK/s | rows/s | p50 µs | p99 µs | failed | cores per Quiver process | server cores | OK/s per server core | machine cores |',
    '|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|',
    ...entries.map(({ round, shape, call, result: r }) =>
      [
        '',
        round,
        shape.name,
        call,
        fmt(r.okPerSecond),
        fmt(r.rowsPerSecond),
        fmt(r.p50Us),
        fmt(r.p99Us),
        r.failed,
        r.quiverCores.map((c) => fmt(c, 2)).join(' + '),
        fmt(r.serverCores, 2),
        fmt(r.okPerSecond / r.serverCores),
        fmt(r.machineCores, 2),
        '',
      ]
        .join(' | ')
        .trim(),
    ),
    '',
  ];
}

function summaryLines({ entries, shapes, calls, rounds }: MultiprocessRun): string[] {
  const lines = [
    `| call | server | mean OK/s | mean p50 µs | mean p99 µs | mean OK/s per server core | OK/s vs ${shapes[0]?.name}, per round |`,
    '|---|---|---:|---:|---:|---:|---|',
  ];
  for (const call of calls) {
    const of = (shape: Shape): Measurement[] => entries.filter((e) => e.call === call && e.shape === shape).map((e) => e.result);
    const base = of(shapes[0] as Shape);
    for (const shape of shapes) {
      const results = of(shape);
      const ratios = results.map((r, i) => fmt(r.okPerSecond / (base[i] as Measurement).okPerSecond, 2));
      lines.push(
        `| ${call} | ${shape.name} | ${fmt(mean(results.map((r) => r.okPerSecond)))} | ${fmt(mean(results.map((r) => r.p50Us)))} | ${fmt(mean(results.map((r) => r.p99Us)))} | ${fmt(mean(results.map((r) => r.okPerSecond / r.serverCores)))} | ${ratios.join(', ')} |`,
      );
    }
  }
  lines.push('', `(${rounds} rounds; a ratio compares two shapes measured minutes apart in the same round.)`, '');
  return lines;
}
