/**
 * Runs Quiver as a separate process for the long benchmarks (soak, overload), the way it
 * runs in production: compiled (dist/), with nothing else in its process.
 *
 * The build is a SNAPSHOT: dist/, proto/ and package.json are copied to a temp directory
 * (node_modules linked), so a rebuild of dist/ by someone else during a 20-minute run cannot
 * swap files under the server or the CLI between two commands. `fromSource` runs src/
 * under tsx instead (no build needed; tsx adds a loader thread and memory to the process).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface QuiverBuild {
  /** Where the CLI runs from (its cwd). */
  readonly root: string;
  /** `node` arguments before the CLI's own. */
  readonly argv: readonly string[];
  /** What ran: "dist/ built <time> (snapshot)" or "src/ under tsx". */
  readonly description: string;
  cleanup(): void;
}

export function quiverBuild(repoRoot: string, fromSource: boolean): QuiverBuild {
  if (fromSource) {
    return {
      root: repoRoot,
      argv: ['--import', 'tsx', join(repoRoot, 'src/cli/bin.ts')],
      description: 'src/ under tsx',
      cleanup: () => undefined,
    };
  }
  const bin = join(repoRoot, 'dist/src/cli/bin.js');
  if (!existsSync(bin)) throw new Error('dist/ is missing: run npm run build (or pass --source to run src/ under tsx)');
  const builtAt = statSync(bin).mtime.toISOString();
  const dir = mkdtempSync(join(tmpdir(), 'quiver-build-'));
  cpSync(join(repoRoot, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(repoRoot, 'proto'), join(dir, 'proto'), { recursive: true });
  cpSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    root: dir,
    argv: [join(dir, 'dist/src/cli/bin.js')],
    description: `dist/ built ${builtAt} (snapshot copy)`,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs one CLI command to completion; returns its stdout. */
export async function quiverCli(build: QuiverBuild, args: readonly string[]): Promise<string> {
  const { stdout } = await exec(process.execPath, [...build.argv, ...args], { cwd: build.root, maxBuffer: 16 << 20 });
  return stdout;
}

export interface LogEvent {
  readonly msg: string;
  readonly model?: string;
  readonly version?: number;
}

export interface ServerProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The processes that serve: this one, or with --processes the primary's server processes. */
  readonly servingPids: readonly number[];
  readonly grpcPort: number;
  readonly httpPort: number | null;
  readonly metricsPort: number | null;
  /** performance.now() when the server logged 'quiver serving'. */
  readonly startedAt: number;
  /** Every JSON log line's msg (with model and version when present), in order. */
  readonly events: LogEvent[];
  /** The last lines of output, for error reports. */
  readonly logs: string[];
}

/**
 * Starts `quiver serve <args>` (add --grpc-port 0 etc. yourself) and resolves once it logs
 * 'quiver serving' (with --processes, once every process serves), with the ports it picked.
 */
export function startQuiver(build: QuiverBuild, args: readonly string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [...build.argv, 'serve', ...args], {
    cwd: build.root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const events: LogEvent[] = [];
  const logs: string[] = [];
  const keep = (line: string): void => {
    logs.push(line);
    if (logs.length > 2000) logs.splice(0, 1000);
  };
  return new Promise((resolve, reject) => {
    let buffer = '';
    proc.stderr?.on('data', (d: Buffer) => keep(d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        keep(line);
        let entry: LogEvent & {
          grpcPort?: number;
          httpPort?: number | null;
          metricsPort?: number | null;
          process?: number;
          pids?: number[];
        };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          continue;
        }
        events.push({ msg: entry.msg, ...(entry.model === undefined ? {} : { model: entry.model, version: entry.version }) });
        // With --processes, each server process logs its own line (with `process`); the primary's comes last.
        if (entry.msg === 'quiver serving' && entry.grpcPort !== undefined && entry.process === undefined) {
          resolve({
            proc,
            pid: proc.pid as number,
            servingPids: entry.pids ?? [proc.pid as number],
            grpcPort: entry.grpcPort,
            httpPort: entry.httpPort ?? null,
            metricsPort: entry.metricsPort ?? null,
            startedAt: performance.now(),
            events,
            logs,
          });
        }
      }
    });
    proc.on('exit', (code, signal) => reject(new Error(`quiver exited early (${code ?? signal}):\n${logs.slice(-30).join('\n')}`)));
  });
}

export async function stopQuiver(s: ServerProcess): Promise<void> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return;
  const exited = new Promise((r) => s.proc.once('exit', r));
  s.proc.kill('SIGTERM');
  await exited;
}

export interface ProcessMemory {
  readonly rssMiB: number;
  readonly rssAnonMiB: number;
  readonly rssFileMiB: number;
  /** Peak RSS (VmHWM). */
  readonly hwmMiB: number;
  readonly pssMiB: number | null;
  readonly threads: number;
}

const kib = (text: string, field: string): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
  return m === null ? NaN : Number(m[1]);
};
const mib = (k: number): number => Math.round((k / 1024) * 10) / 10;

/** A process's memory from /proc/<pid>/status and smaps_rollup (Linux). */
export function processMemory(pid: number): ProcessMemory {
  const status = readProc(`/proc/${pid}/status`) ?? '';
  const rollup = readProc(`/proc/${pid}/smaps_rollup`);
  return {
    rssMiB: mib(kib(status, 'VmRSS')),
    rssAnonMiB: mib(kib(status, 'RssAnon')),
    rssFileMiB: mib(kib(status, 'RssFile')),
    hwmMiB: mib(kib(status, 'VmHWM')),
    pssMiB: rollup === null ? null : mib(kib(rollup, 'Pss')),
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? NaN),
  };
}

function readProc(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // the process is gone, or smaps_rollup is missing (Linux < 4.14)
    return null;
  }
}

/** The machine's 1, 5 and 15 minute load averages, as `uptime` prints them. */
export function loadAverage(): { readonly at: string; readonly load1: number; readonly load5: number; readonly load15: number } {
  const [a, b, c] = loadavg().map((v) => Math.round(v * 100) / 100) as [number, number, number];
  return { at: new Date().toISOString(), load1: a, load5: b, load15: c };
}
