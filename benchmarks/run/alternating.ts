/**
 * The cost sections' way of measuring (rows (g), (k), (l)): variants of a Quiver server run in
 * alternating rounds, so drift in the machine's speed is shared; each round one h2load run of
 * Predict against a fresh server, and each variant's row the mean of its rounds.
 */
import { type LoadResult, runLoad, verifyCall } from '../lib/h2load.js';
import type { Row } from './measure.js';
import { DURATION, WARMUP } from './options.js';
import { PREDICT_PATH, predictBody } from './requests.js';

/** One h2load run of the demo Predict against a server on `port`, after a call that must answer OK. */
export async function loadPredict(work: string, port: number, concurrency: number, what: string): Promise<LoadResult> {
  const probe = await verifyCall(`127.0.0.1:${port}`, PREDICT_PATH, predictBody);
  if (probe.status !== 0) throw new Error(`${what}: grpc-status ${probe.status}: ${probe.details}`);
  return runLoad({
    url: `http://127.0.0.1:${port}${PREDICT_PATH}`,
    body: predictBody,
    concurrency,
    durationS: DURATION,
    warmupS: WARMUP,
    workDir: work,
    // Every answer has the same size: the generated id is a UUID of fixed length.
    responseBytes: probe.message.length + 5,
  });
}

export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A variant's row: the mean of its runs (failures added up). */
export const meanRow = (target: string, concurrency: number, rs: readonly LoadResult[]): Row => ({
  target: `${target} (mean of ${rs.length})`,
  concurrency,
  requestsPerSecond: mean(rs.map((r) => r.requestsPerSecond)),
  rowsPerSecond: mean(rs.map((r) => r.requestsPerSecond)),
  p50Us: mean(rs.map((r) => r.p50Us)),
  p99Us: mean(rs.map((r) => r.p99Us)),
  failed: rs.reduce((a, r) => a + r.failed, 0),
});
