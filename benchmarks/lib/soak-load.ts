/**
 * The soak benchmark's load: steady gRPC Predict traffic at a fixed rate from its own process
 * (forked by benchmarks/soak.ts, so the server's RSS is measured alone). Unlike h2load it
 * reads every call's grpc-status, so a failed request is counted exactly, by code, and it
 * counts which model version answered.
 *
 * argv: address rate maxInFlight modelName. IPC: the parent sends 'stats' (answered with a
 * LoadStats for the window since the last 'stats') and 'stop' (answered with the final
 * LoadStats once every call in flight has finished; then the process exits).
 */
import * as grpc from '@grpc/grpc-js';

import { PredictionServiceClient, type PredictRequest, type PredictResponse } from '../../src/gen/quiver/v1/prediction.js';

export interface LoadStats {
  /** Cumulative since the start. */
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly failedByCode: Readonly<Record<string, number>>;
  /** Requests the rate asked for but not sent because maxInFlight calls were outstanding. */
  readonly skipped: number;
  readonly byVersion: Readonly<Record<string, number>>;
  /** The window since the previous 'stats' message. */
  readonly windowS: number;
  readonly windowOk: number;
  readonly windowP50Ms: number | null;
  readonly windowP99Ms: number | null;
  /** The first few error messages, for the report. */
  readonly errors: readonly string[];
}

const [address, rateArg, inFlightArg, modelName] = process.argv.slice(2);
if (address === undefined || modelName === undefined) throw new Error('usage: soak-load.ts address rate maxInFlight modelName');
const rate = Number(rateArg);
const maxInFlight = Number(inFlightArg);

const client = new PredictionServiceClient(address, grpc.credentials.createInsecure());

let sent = 0;
let ok = 0;
let failed = 0;
let skipped = 0;
let inFlight = 0;
let seq = 0;
const failedByCode: Record<string, number> = {};
const byVersion: Record<string, number> = {};
const errors: string[] = [];
let latencies: number[] = [];
let windowStart = performance.now();
let windowOk = 0;
let stopping = false;
let onIdle: (() => void) | undefined;

function request(): PredictRequest {
  // Varied rows, so batches are not all identical; deterministic per sequence number.
  const i = seq++;
  const features = new Map<string, number>();
  for (let f = 0; f < 10; f++) features.set(`feature_${f}`, Math.sin(i * 0.37 + f * 1.3) * 2);
  return { modelName: modelName as string, modelVersion: '', features, inputs: new Map(), id: '' };
}

function send(): void {
  sent++;
  inFlight++;
  const t0 = performance.now();
  client.predict(
    request(),
    new grpc.Metadata(),
    { deadline: Date.now() + 10_000 },
    (err: grpc.ServiceError | null, res?: PredictResponse) => {
      inFlight--;
      if (err !== null || res === undefined) {
        failed++;
        const code = err === null ? 'NO_RESPONSE' : (grpc.status[err.code] ?? String(err.code));
        failedByCode[code] = (failedByCode[code] ?? 0) + 1;
        if (errors.length < 10) errors.push(`${code}: ${err?.details ?? ''}`);
      } else {
        ok++;
        windowOk++;
        byVersion[res.modelVersion] = (byVersion[res.modelVersion] ?? 0) + 1;
        latencies.push(performance.now() - t0);
      }
      if (stopping && inFlight === 0) onIdle?.();
    },
  );
}

function stats(): LoadStats {
  const now = performance.now();
  const sorted = latencies.sort((a, b) => a - b);
  const pick = (q: number): number | null =>
    sorted.length === 0 ? null : Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number) * 1000) / 1000;
  const s: LoadStats = {
    sent,
    ok,
    failed,
    failedByCode: { ...failedByCode },
    skipped,
    byVersion: { ...byVersion },
    windowS: (now - windowStart) / 1000,
    windowOk,
    windowP50Ms: pick(0.5),
    windowP99Ms: pick(0.99),
    errors: [...errors],
  };
  latencies = [];
  windowOk = 0;
  windowStart = now;
  return s;
}

// Open loop at `rate` requests/s, ticking every 5 ms; bounded by maxInFlight.
let budget = 0;
let last = performance.now();
const timer = setInterval(() => {
  const now = performance.now();
  budget += ((now - last) / 1000) * rate;
  last = now;
  while (budget >= 1) {
    budget--;
    if (inFlight >= maxInFlight) skipped++;
    else send();
  }
}, 5);

process.on('message', (msg: unknown) => {
  if (msg === 'stats') process.send?.({ type: 'stats', stats: stats() });
  if (msg === 'stop') {
    stopping = true;
    clearInterval(timer);
    const finish = (): void => {
      client.close();
      process.send?.({ type: 'final', stats: stats() }, () => process.exit(0));
    };
    if (inFlight === 0) finish();
    else onIdle = finish;
  }
});
process.send?.({ type: 'ready' });
