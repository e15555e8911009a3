/** The server's side of a run: its CPU time, its own drop counters (/metrics), and when it answers promptly again. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { verifyCall } from '../lib/h2load.js';
import { body, PATH } from './request.js';

/** utime + stime of a process, ms (Linux /proc/<pid>/stat; USER_HZ = 100). */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The server's requests dropped by reason, and its predictions, from /metrics (empty when it has no HTTP port or does not answer). */
export async function dropCounters(httpPort: number | null): Promise<Record<string, number>> {
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
export async function recovery(address: string, limitMs: number): Promise<number | null> {
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
