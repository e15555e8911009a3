/**
 * Trial loads: before a version can be promoted, its artifact is loaded by onnxruntime in a
 * separate Node process (trial-child.ts) and run once on a sample input built from its
 * signature. A model that crashes the runtime (heap corruption, SIGFPE, abort), hangs it or
 * eats the machine's memory takes down only that child; the server stays up and the promotion
 * is refused with an error that names the model, the version and the cause.
 *
 * Limits, enforced by this (parent) process:
 * - wall time: SIGKILL at `timeoutMs` after the spawn;
 * - memory: the child's resident set is sampled every 50 ms (/proc/<pid>/status on Linux,
 *   `ps` elsewhere). The sample includes the peak since exec (VmHWM), so a spike between two
 *   samples is seen too; over `maxMemoryMb` means SIGKILL. A child that finishes between
 *   samples reports its own peak (getrusage), which is checked the same way. On Linux a hard
 *   RLIMIT_DATA (set by `ulimit -d` in the spawning shell, at twice the limit plus 512 MiB)
 *   also stops one huge allocation before it can touch memory at all;
 * - orphans: the child runs a watchdog thread that kills it if this process dies or if it
 *   outlives the deadline (the main thread may be stuck inside onnxruntime).
 * The time limit counts from the spawn, so it includes starting Node and onnxruntime (about
 * 0.2 s compiled, 0.5 s under tsx). The child gets an empty environment (no tokens, database
 * URLs or cloud credentials) and its session options are fixed by the server
 * (trial-child.ts), never by the model: CPU only, no custom-op libraries, no profiling or
 * optimized-model files.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

import { modelLoadFailed, type QuiverError, unavailable } from '../core/errors.js';
import type { DType } from '../core/tensor.js';

export interface TrialLimits {
  /** Wall time from spawn to result, ms. */
  readonly timeoutMs: number;
  /** Resident memory the child may use, MiB. */
  readonly maxMemoryMb: number;
}

export interface TrialInput {
  readonly name: string;
  readonly dtype: DType;
  /** -1 for dynamic dimensions (the trial uses 1); null when the graph declares no shape ([1]). */
  readonly dims: readonly number[] | null;
}

export interface TrialSubject {
  readonly model: string;
  readonly version: number;
  /** A local file holding the verified artifact. */
  readonly path: string;
  readonly inputs: readonly TrialInput[];
  /** The tensor outputs to fetch (sequence/map outputs cannot be fetched by the Node binding). */
  readonly outputs: readonly string[];
}

/** What the parent hands the child (argv[2], JSON). */
export interface TrialJob {
  readonly path: string;
  readonly inputs: readonly TrialInput[];
  readonly outputs: readonly string[];
  /** After this long the child's watchdog kills it, whatever the parent does. */
  readonly watchdogMs: number;
  /** The parent's pid: once the child's parent is another process, the child kills itself. */
  readonly parentPid: number;
}

export interface TrialOutputShape {
  readonly name: string;
  readonly type: string;
  readonly dims: readonly number[];
}

/** What the child reports over IPC before it exits. */
export type TrialReport =
  | {
      readonly ok: true;
      readonly loadMs: number;
      readonly runMs: number;
      readonly maxRssMb: number;
      readonly outputs: readonly TrialOutputShape[];
    }
  | { readonly ok: false; readonly stage: 'load' | 'run'; readonly message: string; readonly maxRssMb: number };

export interface TrialResult {
  readonly loadMs: number;
  readonly runMs: number;
  /** The child's peak resident memory, MiB. */
  readonly peakRssMb: number;
  readonly outputs: readonly TrialOutputShape[];
}

// Under tsx (running from source) the child is TypeScript and needs the bootstrap; compiled
// builds run trial-child.js directly (the same rule as the inference workers in pool.ts).
const CHILD_FILE = fileURLToPath(
  import.meta.url.endsWith('.ts') ? new URL('./trial-child-tsx.mjs', import.meta.url) : new URL('./trial-child.js', import.meta.url),
);

/** Images without a shell (distroless) still get trials, without the hard limit. */
const HAS_SH = existsSync('/bin/sh');

const SAMPLE_MS = 50;
const STDERR_KEEP = 4096;
const MESSAGE_MAX = 2000;
/** Trials at once; more promotions wait (each child may use maxMemoryMb). */
const MAX_CONCURRENT = 2;

let running = 0;
const waiting: Array<() => void> = [];

async function slot(): Promise<() => void> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
}

const clip = (text: string): string => (text.length > MESSAGE_MAX ? `${text.slice(0, MESSAGE_MAX)}...` : text);

// eslint-disable-next-line no-control-regex
const stripAnsi = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, '');

/** The child's peak resident memory so far in MiB (VmHWM; VmRSS if absent), or undefined once it is gone. */
async function residentMb(pid: number): Promise<number | undefined> {
  if (process.platform === 'linux') {
    try {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? /^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? NaN);
      return Number.isFinite(kb) ? kb / 1024 : undefined;
    } catch {
      return undefined;
    }
  }
  return new Promise((resolve) =>
    execFile('ps', ['-o', 'rss=', '-p', String(pid)], (err, stdout) => {
      const kb = Number(stdout.trim());
      resolve(err !== null || stdout.trim() === '' || !Number.isFinite(kb) ? undefined : kb / 1024);
    }),
  );
}

/** The command that starts the child: node, behind `ulimit -d` on Linux (best effort: a lower hard limit just leaves it out). */
function command(job: TrialJob, limits: TrialLimits): { file: string; args: string[] } {
  const node = [CHILD_FILE, JSON.stringify(job)];
  if (process.platform !== 'linux' || !HAS_SH) return { file: process.execPath, args: node };
  const dataKb = Math.round((2 * limits.maxMemoryMb + 512) * 1024);
  return { file: '/bin/sh', args: ['-c', `ulimit -d ${dataKb} 2>/dev/null; exec "$0" "$@"`, process.execPath, ...node] };
}

/** Whether an onnxruntime message says an allocation failed. */
const allocationFailed = (message: string): boolean => /fail(ed)? to allocate|bad_alloc|out of memory|cannot allocate/i.test(message);

/**
 * Loads and runs one model version in a child process under the limits. Resolves with what
 * the run produced; rejects with a QuiverError (QUIVER_ERR_MODEL_LOAD, gRPC
 * FAILED_PRECONDITION) naming the model, the version and the cause, or UNAVAILABLE when no
 * child could be started at all.
 */
export async function trialLoad(subject: TrialSubject, limits: TrialLimits): Promise<TrialResult> {
  const release = await slot();
  try {
    return await runChild(subject, limits);
  } finally {
    release();
  }
}

function runChild(subject: TrialSubject, limits: TrialLimits): Promise<TrialResult> {
  const label = `model '${subject.model}' version ${subject.version}`;
  const fail = (why: string): QuiverError => modelLoadFailed(`trial load of ${label} ${clip(why)}`);
  const job: TrialJob = {
    // The child runs in tmpdir(), so a relative path would name another file there.
    path: resolvePath(subject.path),
    inputs: subject.inputs,
    outputs: subject.outputs,
    watchdogMs: limits.timeoutMs + 2000,
    parentPid: process.pid,
  };
  const { file, args } = command(job, limits);
  const env: Record<string, string> = {};
  if (process.env.TMPDIR !== undefined) env.TMPDIR = process.env.TMPDIR;

  return new Promise<TrialResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env, cwd: tmpdir(), serialization: 'json' });
    } catch (err) {
      reject(unavailable(`trial load of ${label}: cannot start the trial process: ${(err as Error).message}`));
      return;
    }
    let report: TrialReport | undefined;
    let stopped: 'timeout' | 'memory' | undefined;
    let peakMb = 0;
    let stderr = '';
    let sampling = false;
    let settled = false;

    const kill = (why: 'timeout' | 'memory'): void => {
      if (stopped !== undefined || report !== undefined) return;
      stopped = why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill('timeout'), limits.timeoutMs);
    const sampler = setInterval(() => {
      if (sampling || child.pid === undefined) return;
      sampling = true;
      void residentMb(child.pid).then((mb) => {
        sampling = false;
        if (mb === undefined) return;
        peakMb = Math.max(peakMb, mb);
        if (mb > limits.maxMemoryMb) kill('memory');
      });
    }, SAMPLE_MS);
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      clearInterval(sampler);
    };

    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
    });
    child.on('message', (message: TrialReport) => {
      report ??= message;
    });
    child.on('error', (err) => {
      // Spawning failed (no process), or a kill or a message failed (the exit settles it then).
      if (settled || child.pid !== undefined) return;
      done();
      reject(unavailable(`trial load of ${label}: cannot start the trial process: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      done();
      const lastLine = stripAnsi(stderr)
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '')
        .at(-1);
      const said = lastLine === undefined ? '' : `: ${lastLine}`;
      const mb = Math.round(Math.max(peakMb, report?.maxRssMb ?? 0));
      const overMemory = (killed: boolean): QuiverError =>
        fail(
          `${killed ? 'was stopped: it' : 'failed: it'} used ${mb} MiB of memory, over the limit of ${limits.maxMemoryMb} MiB (trialMaxMemoryMb)`,
        );
      if (stopped === 'timeout') {
        reject(fail(`did not finish within ${limits.timeoutMs} ms (trialTimeoutMs): the model hangs or is too slow`));
      } else if (stopped === 'memory') {
        reject(overMemory(true));
      } else if (report?.ok === true) {
        if (mb > limits.maxMemoryMb) reject(overMemory(false));
        else resolve({ loadMs: report.loadMs, runMs: report.runMs, peakRssMb: mb, outputs: report.outputs });
      } else if (report !== undefined) {
        const ort = stripAnsi(report.message).trim();
        const memory = allocationFailed(ort) ? ` (it needs more memory than the limit of ${limits.maxMemoryMb} MiB allows)` : '';
        reject(
          fail(
            report.stage === 'load'
              ? `failed: onnxruntime cannot load it${memory}: ${ort}`
              : `failed: onnxruntime cannot run it on a sample input${memory}: ${ort}`,
          ),
        );
      } else if (signal !== null) {
        reject(fail(`failed: the model crashed the runtime (signal ${signal})${said}`));
      } else {
        reject(fail(`failed: the trial process exited with code ${code ?? '?'} before reporting${said}`));
      }
    });
  });
}
