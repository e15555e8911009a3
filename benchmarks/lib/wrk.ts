/** Drives wrk (Debian's wrk) against a REST route with a fixed JSON body; reads req/s and latency percentiles. */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import type { LoadResult } from './h2load.js';

const exec = promisify(execFile);

export async function wrkVersion(): Promise<string | null> {
  try {
    await exec('wrk', ['--version']);
    return 'wrk';
  } catch (err) {
    // wrk --version prints its banner and exits 1.
    const out = `${(err as { stdout?: string }).stdout ?? ''}`;
    // "wrk debian/4.1.0-3+b2 [epoll] Copyright ...": keep the name and version.
    return out.startsWith('wrk') ? out.split(' ').slice(0, 2).join(' ') : null;
  }
}

function micros(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (m === null) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v : m[2] === 'ms' ? v * 1000 : v * 1e6;
}

export async function runWrk(opts: {
  url: string;
  body: string;
  concurrency: number;
  durationS: number;
  workDir: string;
}): Promise<LoadResult> {
  const script = join(opts.workDir, 'post.lua');
  writeFileSync(script, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = ${JSON.stringify(opts.body)}\n`);
  const { stdout } = await exec('wrk', ['-t1', `-c${opts.concurrency}`, `-d${opts.durationS}s`, '--latency', '-s', script, opts.url], {
    maxBuffer: 1 << 20,
  });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const total = /(\d+) requests in/.exec(stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const p50 = /\s50%\s+([\d.]+\w+)/.exec(stdout);
  const p99 = /\s99%\s+([\d.]+\w+)/.exec(stdout);
  if (rps === null || total === null || p50 === null || p99 === null) throw new Error(`unexpected wrk output:\n${stdout}`);
  const failed = Number(non2xx?.[1] ?? 0) + (errors === null ? 0 : errors.slice(1).reduce((a, b) => a + Number(b), 0));
  return {
    requestsPerSecond: Number(rps[1]),
    succeeded: Number(total[1]) - failed,
    failed,
    p50Us: micros(p50[1] as string),
    p99Us: micros(p99[1] as string),
  };
}
