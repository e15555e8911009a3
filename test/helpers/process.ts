/** Runs `quiver serve` from source in a child process, as users and Kubernetes would. */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The CLI from source, and tsx to run it, named absolutely so that it runs from any working directory. */
export const CLI = join(ROOT, 'src/cli/bin.ts');
export const TSX = import.meta.resolve('tsx');

export interface Child {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly httpPort: number;
  readonly registryPort: number;
  /** The registry plane's REST port (0 without one). */
  readonly registryHttpPort: number;
  readonly metricsPort: number;
  readonly logs: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts the CLI and resolves once it logs 'quiver serving' (with its port; with --processes,
 * the primary's line, which carries no `process`). `wrap` is a
 * command that runs it (e.g. `unshare ... sh -c '...; exec "$@"' sh`), execing node in the end
 * so that the child's pid stays the server's. `cwd` is the working directory it runs in.
 */
export function startCli(args: string[], env: Record<string, string> = {}, wrap: readonly string[] = [], cwd = ROOT): Promise<Child> {
  const [file, ...pre] = wrap.length === 0 ? [process.execPath] : [...wrap, process.execPath];
  const proc = spawn(
    file!,
    [
      ...pre,
      '--import',
      TSX,
      CLI,
      'serve',
      '--grpc-host',
      '127.0.0.1',
      '--grpc-port',
      '0',
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--metrics-port',
      '0',
      '--registry-port',
      '0',
      '--registry-http-port',
      '0',
      ...args,
    ],
    {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close', not 'exit': 'exit' can come before the last stdout chunk is read, and tests
    // look for the final log lines once this resolves.
    proc.on('close', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    let buffer = '';
    proc.stderr.on('data', (d: Buffer) => logs.push(d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        try {
          const entry = JSON.parse(line) as {
            msg?: string;
            grpcPort?: number;
            httpPort?: number;
            registryPort?: number | null;
            registryHttpPort?: number | null;
            metricsPort?: number | null;
            process?: number;
          };
          if (entry.msg === 'quiver serving' && entry.grpcPort !== undefined && entry.process === undefined)
            resolve({
              proc,
              port: entry.grpcPort,
              httpPort: entry.httpPort ?? 0,
              registryPort: entry.registryPort ?? 0,
              registryHttpPort: entry.registryHttpPort ?? 0,
              metricsPort: entry.metricsPort ?? 0,
              logs,
              exited,
            });
        } catch {
          // not a JSON log line
        }
      }
    });
    void exited.then(({ code }) => reject(new Error(`quiver exited early with ${code}: ${logs.join('')}`)));
  });
}
