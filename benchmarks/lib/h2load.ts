/**
 * Drives h2load (Debian's nghttp2-client) against a gRPC method with a pre-built request
 * body, and reads per-request latencies from its --log-file. h2load does not look at
 * grpc-status, so callers verify the answer separately (verifyCall).
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** The gRPC length-prefixed frame around one encoded message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  Buffer.from(message.buffer, message.byteOffset, message.byteLength).copy(frame, 5);
  return frame;
}

export interface LoadResult {
  readonly requestsPerSecond: number;
  readonly succeeded: number;
  /** Calls that did not get a full answer: HTTP failures, and gRPC errors (see below). */
  readonly failed: number;
  readonly p50Us: number;
  readonly p99Us: number;
}

export async function h2loadVersion(): Promise<string | null> {
  try {
    const { stdout } = await exec('h2load', ['--version']);
    return stdout.trim().split('\n')[0] ?? null;
  } catch {
    return null;
  }
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export async function runLoad(opts: {
  url: string;
  body: Buffer;
  /** Calls in flight, over all connections. */
  concurrency: number;
  /** HTTP/2 connections (default 1), each with concurrency / connections streams. */
  connections?: number;
  durationS: number;
  warmupS: number;
  workDir: string;
  /** Bytes of DATA in one successful response (frame prefix included). */
  responseBytes: number;
}): Promise<LoadResult> {
  const bodyPath = join(opts.workDir, 'body.bin');
  const logPath = join(opts.workDir, 'h2load.log');
  writeFileSync(bodyPath, opts.body);
  rmSync(logPath, { force: true });
  // By default one connection, `concurrency` streams in flight: the shape of a gRPC client channel.
  const connections = opts.connections ?? 1;
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
      String(Math.ceil(opts.concurrency / connections)),
      '-H',
      'content-type: application/grpc',
      '-H',
      'te: trailers',
      '-d',
      bodyPath,
      `--log-file=${logPath}`,
      opts.url,
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const finished = /finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout);
  const counts = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(stdout);
  const traffic = /traffic: .* \((\d+)\) data/.exec(stdout);
  if (finished === null || counts === null || traffic === null) throw new Error(`unexpected h2load output:\n${stdout}`);
  // h2load counts any HTTP 200 as a success, but a gRPC error is a 200 with no DATA frame
  // (a trailers-only answer). Every good answer carries exactly responseBytes of DATA, so
  // the DATA total says how many calls really succeeded.
  const httpOk = Number(counts[1]);
  const grpcOk = Math.min(httpOk, Math.round(Number(traffic[1]) / opts.responseBytes));
  const rows = readFileSync(logPath, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t').map(Number) as [number, number, number]);
  // The log also holds the warm-up period: keep requests started after it.
  const first = rows.reduce((m, r) => Math.min(m, r[0]), Infinity);
  const measured = rows.filter((r) => r[0] >= first + opts.warmupS * 1e6).map((r) => r[2]);
  measured.sort((a, b) => a - b);
  return {
    requestsPerSecond: Number(finished[1]),
    succeeded: grpcOk,
    failed: Number(counts[2]) + (httpOk - grpcOk),
    p50Us: percentile(measured, 0.5),
    p99Us: percentile(measured, 0.99),
  };
}

/** Sends one call over plain HTTP/2 and returns grpc-status and the response message. */
export function verifyCall(address: string, path: string, body: Buffer): Promise<{ status: number; message: Buffer; details: string }> {
  return new Promise((resolve, reject) => {
    const session = connect(`http://${address}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    let status = -1;
    let details = '';
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => {
      status = Number(t['grpc-status']);
      details = String(t['grpc-message'] ?? '');
    });
    req.on('response', (h) => {
      if (h['grpc-status'] !== undefined) {
        status = Number(h['grpc-status']);
        details = String(h['grpc-message'] ?? '');
      }
    });
    req.on('end', () => {
      session.close();
      const data = Buffer.concat(chunks);
      resolve({ status, message: data.subarray(5), details });
    });
    req.on('error', reject);
    req.end(body);
  });
}
