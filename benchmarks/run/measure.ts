/**
 * One table row per concurrency: gRPC targets under h2load (answer checked before and after),
 * REST targets under wrk (answer checked before). A gRPC row's req/s and rows/s count the calls
 * answered OK: a server that refuses some calls (RESOURCE_EXHAUSTED) gets no credit for them.
 */
import { type LoadResult, runLoad, verifyCall } from '../lib/h2load.js';
import { runWrk } from '../lib/wrk.js';
import type { AnswerCheck } from './answers.js';
import { CONCURRENCY, DURATION, WARMUP } from './options.js';
import { restBody } from './requests.js';

export interface Row {
  readonly target: string;
  readonly concurrency: number | null;
  readonly requestsPerSecond: number | null;
  readonly rowsPerSecond: number;
  readonly p50Us: number | null;
  readonly p99Us: number | null;
  readonly failed: number;
}

const progress = (target: string, c: number, r: { requestsPerSecond: number; p50Us: number; p99Us: number }): void => {
  process.stderr.write(`  ${target} c=${c}: ${Math.round(r.requestsPerSecond)} req/s, p50 ${r.p50Us} µs, p99 ${r.p99Us} µs\n`);
};

/** h2load at each of `concurrencies` against one gRPC method; `rowsPerCall` turns req/s into rows/s. */
export async function measureGrpc(
  work: string,
  target: string,
  address: string,
  path: string,
  body: Buffer,
  rowsPerCall: number,
  check: AnswerCheck,
  concurrencies: readonly number[] = CONCURRENCY,
): Promise<Row[]> {
  const probe = await verifyCall(address, path, body);
  if (probe.status !== 0) throw new Error(`${target}: verification call failed with grpc-status ${probe.status}: ${probe.details}`);
  check(probe.message);
  const out: Row[] = [];
  for (const c of concurrencies) {
    const r: LoadResult = await runLoad({
      url: `http://${address}${path}`,
      body,
      concurrency: c,
      durationS: DURATION,
      warmupS: WARMUP,
      workDir: work,
      responseBytes: probe.message.length + 5,
    });
    // h2load's req/s counts every finished call; keep the share answered OK.
    const okPerSecond = (r.requestsPerSecond * r.succeeded) / Math.max(1, r.succeeded + r.failed);
    out.push({
      target,
      concurrency: c,
      requestsPerSecond: okPerSecond,
      rowsPerSecond: okPerSecond * rowsPerCall,
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      failed: r.failed,
    });
    progress(target, c, { ...r, requestsPerSecond: okPerSecond });
  }
  // After the load, the answer must still be right (h2load does not read grpc-status).
  const after = await verifyCall(address, path, body);
  if (after.status !== 0) throw new Error(`${target}: grpc-status ${after.status} after the load: ${after.details}`);
  check(after.message);
  return out;
}

/** wrk at each concurrency against a REST /predict URL, after one call answered like onnxruntime. */
export async function measureRest(work: string, expectedP1: number, target: string, url: string): Promise<Row[]> {
  const probe = await fetch(url, { method: 'POST', body: restBody, headers: { 'content-type': 'application/json' } });
  const answer = (await probe.json()) as { probabilities?: number[] };
  if (probe.status !== 200 || answer.probabilities?.[1] !== expectedP1)
    throw new Error(`${target}: wrong REST answer ${JSON.stringify(answer)}`);
  const out: Row[] = [];
  for (const c of CONCURRENCY) {
    const r = await runWrk({ url, body: restBody, concurrency: c, durationS: DURATION, workDir: work });
    out.push({
      target,
      concurrency: c,
      requestsPerSecond: r.requestsPerSecond,
      rowsPerSecond: r.requestsPerSecond,
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      failed: r.failed,
    });
    progress(target, c, r);
  }
  return out;
}
