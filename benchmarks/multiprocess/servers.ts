/**
 * The server shapes the multiprocess benchmark compares, started from one snapshot of dist/
 * (lib/quiver-process.ts): one `quiver serve` process, or N of them sharing the port under a
 * `cluster` primary (cluster-serve.ts). Every shape serves the demo model as production-model
 * on loopback with the same flags; only the process count and `--workers` differ.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { type QuiverBuild, startQuiver, stopQuiver } from '../lib/quiver-process.js';
import { freePort } from '../run/servers.js';

const CLUSTER_SERVE = fileURLToPath(new URL('cluster-serve.ts', import.meta.url));

export interface Shape {
  readonly name: string;
  /** 1: a plain `quiver serve`; more: that many under a cluster primary. */
  readonly processes: number;
  /** --workers per process; undefined: Quiver's default (cores - 1). */
  readonly workers: number | undefined;
}

export interface RunningShape {
  readonly address: string;
  /** Every process whose CPU counts as the server's: the Quiver processes and the cluster primary. */
  readonly pids: readonly number[];
  /** The Quiver processes alone (the primary, when there is one, is not among them). */
  readonly quiverPids: readonly number[];
  stop(): Promise<void>;
}

function serveArgs(modelPath: string, grpcPort: number, httpPort: number, workers: number | undefined): string[] {
  return [
    '--grpc-host',
    '127.0.0.1',
    '--grpc-port',
    String(grpcPort),
    '--http-host',
    '127.0.0.1',
    '--http-port',
    String(httpPort),
    '--model',
    `production-model=${modelPath}`,
    // The file-served demo model alone: the registry in ./var may hold another production-model.
    '--no-registry',
    '--no-metrics-server',
    '--log-level',
    'info',
    ...(workers === undefined ? [] : ['--workers', String(workers)]),
  ];
}

export async function startShape(build: QuiverBuild, modelPath: string, shape: Shape): Promise<RunningShape> {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const args = serveArgs(modelPath, grpcPort, httpPort, shape.workers);
  const address = `127.0.0.1:${grpcPort}`;
  if (shape.processes === 1) {
    const server = await startQuiver(build, args);
    return { address, pids: [server.pid], quiverPids: [server.pid], stop: () => stopQuiver(server) };
  }
  const { primary, pids } = await startCluster(build, shape.processes, args);
  return { address, pids: [primary.pid as number, ...pids], quiverPids: pids, stop: () => stopPrimary(primary) };
}

/** cluster-serve.ts with `processes` workers; resolves with their pids once all of them serve. */
function startCluster(build: QuiverBuild, processes: number, args: string[]): Promise<{ primary: ChildProcess; pids: number[] }> {
  const cli = join(build.root, 'dist/src/cli/bin.js');
  const primary = spawn(process.execPath, ['--import', 'tsx', CLUSTER_SERVE, String(processes), cli, 'serve', ...args], {
    cwd: build.root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    primary.stderr.on('data', (d: Buffer) => (out += d.toString()));
    primary.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /^\{"msg":"cluster serving".*$/m.exec(out);
      if (line !== null) resolve({ primary, pids: (JSON.parse(line[0]) as { pids: number[] }).pids });
    });
    primary.on('exit', (code, signal) => reject(new Error(`cluster-serve exited early (${code ?? signal}):\n${out.slice(-4000)}`)));
  });
}

async function stopPrimary(primary: ChildProcess): Promise<void> {
  if (primary.exitCode !== null || primary.signalCode !== null) return;
  const exited = new Promise((r) => primary.once('exit', r));
  primary.kill('SIGTERM');
  await exited;
}
