/**
 * The server shapes the multiprocess benchmark compares, started from one snapshot of dist/
 * (lib/quiver-process.ts): one `quiver serve` process, or `quiver serve --processes N` (a
 * cluster primary and N server processes sharing the ports). Every shape serves the demo model
 * as production-model on loopback with the same flags; only `--processes` and `--workers` differ.
 */
import { type QuiverBuild, startQuiver, stopQuiver } from '../lib/quiver-process.js';
import { freePort } from '../run/servers.js';

export interface Shape {
  readonly name: string;
  /** 1: a plain `quiver serve`; more: `--processes` that many. */
  readonly processes: number;
  /** --workers per process; undefined: Quiver's default (cores / processes - 1). */
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
  const server = await startQuiver(build, shape.processes === 1 ? args : [...args, '--processes', String(shape.processes)]);
  return {
    address: `127.0.0.1:${grpcPort}`,
    pids: shape.processes === 1 ? [server.pid] : [server.pid, ...server.servingPids],
    quiverPids: server.servingPids,
    stop: () => stopQuiver(server),
  };
}
