/**
 * The Node load generators: child processes running lib/open-loop.ts (node:http2, every
 * grpc-status read), open loop at a fixed rate or closed loop at a fixed concurrency, and
 * their results merged into one.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type GeneratorResult, type Histogram, merge, newHistogram, type RunSpec } from '../lib/open-loop.js';
import type { OverloadOptions } from './options.js';
import { body, PATH } from './request.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The generators' results added up. */
export interface Merged {
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

/** Runs `processes` generators at once, sharing the rate and the outstanding calls between them. */
export async function generate(
  options: Pick<OverloadOptions, 'generators' | 'connections' | 'deadlineMs'>,
  mode: 'open' | 'closed',
  address: string,
  totalRate: number,
  totalConcurrency: number,
  durationS: number,
  warmupS: number,
  processes = options.generators,
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
        connections: options.connections,
        warmupMs: warmupS * 1000,
        durationMs: durationS * 1000,
        deadlineMs: options.deadlineMs,
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
