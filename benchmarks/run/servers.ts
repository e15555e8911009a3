/**
 * The servers the throughput benchmark starts as child processes: the comparison servers
 * under benchmarks/servers (run under tsx) and Quiver itself from dist/ in this checkout,
 * each on a free loopback port, ready once its output matches.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** Runs `node <cmd>` from the repository root; resolves once its stdout or stderr matches `ready`. */
export function startProcess(cmd: string[], ready: RegExp, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, cmd, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd.join(' ')} exited with ${code}:\n${out}`)));
  });
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** One of benchmarks/servers/<file> on a free port, with its arguments after the port. */
export async function startComparisonServer(file: string, args: string[] = []): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = await startProcess(['--import', 'tsx', `benchmarks/servers/${file}`, String(port), ...args], /listening/);
  return { child, port };
}

export interface QuiverServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly httpPort: number;
}

/** `quiver serve` from dist/ with the demo model as production-model, gRPC and REST on free ports. */
export async function startQuiverFromDist(
  modelPath: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<QuiverServer> {
  const grpcPort = await freePort();
  const restPort = await freePort();
  const c = await startProcess(
    [
      'dist/src/cli/bin.js',
      'serve',
      '--grpc-host',
      '127.0.0.1',
      '--grpc-port',
      String(grpcPort),
      '--model',
      `production-model=${modelPath}`,
      // The file-served demo model alone: the registry in ./var may hold another production-model.
      '--no-registry',
      '--no-metrics-server',
      '--http-host',
      '127.0.0.1',
      '--http-port',
      String(restPort),
      '--log-level',
      'info',
      ...extra,
    ],
    /quiver serving/,
    env,
  );
  return { child: c, port: grpcPort, httpPort: restPort };
}
