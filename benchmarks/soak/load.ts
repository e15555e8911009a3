/**
 * The steady gRPC Predict traffic: lib/soak-load.ts forked into its own process (so the
 * server's RSS is measured alone), asked over IPC for its counts.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { LoadStats } from '../lib/soak-load.js';
import { MODEL, type SoakOptions } from './options.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Load {
  /** The counts so far, and the window since the previous call. */
  stats(): Promise<LoadStats>;
  /** Stops sending; the final counts once every call in flight has finished. */
  stop(): Promise<LoadStats>;
}

/** Starts the load against the server's gRPC port; resolves once it is sending. */
export async function startLoad(options: SoakOptions, grpcPort: number): Promise<Load> {
  const child = fork(
    join(ROOT, 'benchmarks/lib/soak-load.ts'),
    [`127.0.0.1:${grpcPort}`, String(options.rate), String(options.inFlight), MODEL],
    {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
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
