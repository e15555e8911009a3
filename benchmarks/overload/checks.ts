/**
 * The claim the overload benchmark checks: at the highest multiple the server sheds with
 * RESOURCE_EXHAUSTED in milliseconds while accepted calls keep a p99 within a small multiple
 * of the healthy p99 and well under the deadline.
 */
import type { Phase } from './phase.js';

export interface Check {
  readonly name: string;
  readonly value: number;
  readonly goal: string;
  readonly ok: (v: number) => boolean;
}

/** The checks, and the run they judge (the highest multiple). */
export function claimChecks(phases: readonly Phase[], capacity: number, deadlineMs: number): { top: Phase; checks: Check[] } {
  // The claim, checked at the highest multiple against the run at 1x (else the lowest).
  const top = phases.reduce((a, b) => (b.multiplier > a.multiplier ? b : a));
  // The healthy reference the brief compares with (1x, or 0.8x): the highest multiple up to
  // 1x whose calls all made their deadline; else the lowest run.
  const healthy = phases.filter((p) => p.multiplier <= 1 && p.deadline === 0 && p.classified === (p.byStatus.OK ?? 0));
  const base =
    healthy.length > 0
      ? healthy.reduce((a, b) => (b.multiplier > a.multiplier ? b : a))
      : phases.reduce((a, b) => (b.multiplier < a.multiplier ? b : a));
  const checks: Check[] = [
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
      value: (top.okP99Ms ?? NaN) / deadlineMs,
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
  return { top, checks };
}
