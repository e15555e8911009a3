/**
 * Bulk open-loop gRPC load from h2load (Debian's nghttp2-client) at a fixed request rate:
 * `--rps` per connection over as many connections as the rate needs (`ratePerConnection`). h2load costs far less CPU per call than any Node client, so on a
 * small machine it is the only way to offer several times the server's capacity and leave
 * the server its share of the cores. It does not read grpc-status or cancel calls at the
 * deadline (the server enforces `grpc-timeout` itself): outcomes are counted from the DATA
 * bytes (a good answer carries exactly `responseBytes`, an error none), and a separate
 * probe client classifies a sample of calls by status (see overload.ts).
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface BulkResult {
  readonly connections: number;
  readonly ratePerConnection: number;
  /** Calls h2load started and finished within the measured window. */
  readonly started: number;
  readonly done: number;
  /** Finished with a full answer (grpc-status 0), and without one (a gRPC error or a reset). */
  readonly ok: number;
  readonly notOk: number;
  /** Latency of every finished call, ms, whatever its outcome. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly raw: string;
}

export async function runH2loadOpen(opts: {
  url: string;
  body: Buffer;
  rate: number;
  durationS: number;
  warmupS: number;
  deadlineMs: number;
  /** Calls per second per connection (the connection count follows from it). */
  ratePerConnection: number;
  responseBytes: number;
  workDir: string;
}): Promise<BulkResult> {
  const bodyPath = join(opts.workDir, 'bulk-body.bin');
  const logPath = join(opts.workDir, 'bulk-h2load.log');
  writeFileSync(bodyPath, opts.body);
  rmSync(logPath, { force: true });
  // The client's shape does not depend on the server's settings, so server variants meet the
  // same load: a connection per `ratePerConnection` calls/s. At 500/s and a 1 s deadline a
  // connection holds at most ~500 calls, under Quiver's default stream limit (1000); h2load
  // itself may hold 1000 (-m), and obeys a lower limit the server announces.
  const connections = Math.max(1, Math.ceil(opts.rate / opts.ratePerConnection));
  const rps = Math.max(1, Math.round(opts.rate / connections));
  const { stdout } = await exec(
    'h2load',
    [
      '-D',
      String(opts.durationS),
      '--warm-up-time',
      String(opts.warmupS),
      '-c',
      String(connections),
      '-m',
      '1000',
      '--rps',
      String(rps),
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      '-H',
      `grpc-timeout: ${opts.deadlineMs}m`,
      '-d',
      bodyPath,
      `--log-file=${logPath}`,
      opts.url,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const counts = /requests: \d+ total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(stdout);
  const traffic = /traffic: .* \((\d+)\) data/.exec(stdout);
  if (counts === null || traffic === null) throw new Error(`unexpected h2load output:\n${stdout}`);
  const done = Number(counts[2]);
  const ok = Math.min(Number(counts[3]), Math.round(Number(traffic[1]) / opts.responseBytes));
  let latencies: number[] = [];
  try {
    const rows = readFileSync(logPath, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('\t').map(Number) as [number, number, number]);
    const first = rows.reduce((m, r) => Math.min(m, r[0]), Infinity);
    latencies = rows.filter((r) => r[0] >= first + opts.warmupS * 1e6).map((r) => r[2] / 1000);
  } catch {
    // no log: counts only
  }
  latencies.sort((a, b) => a - b);
  const pick = (q: number): number | null =>
    latencies.length === 0
      ? null
      : Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number) * 100) / 100;
  return {
    connections,
    ratePerConnection: rps,
    started: Number(counts[1]),
    done,
    ok,
    notOk: done - ok,
    p50Ms: pick(0.5),
    p99Ms: pick(0.99),
    raw: stdout
      .split('\n')
      .filter((l) => /^(finished|requests|status codes|traffic|time for request)/.test(l.trim()))
      .join('\n'),
  };
}
