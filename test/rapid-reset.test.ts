/**
 * A client that cancels calls in a burst (issue 13, point 3) keeps the other calls of its
 * connection. nghttp2's rapid-reset guard (CVE-2023-44487: 1000 resets, then 33 a second)
 * would answer such a burst with GOAWAY INTERNAL_ERROR, and a grpc-js client then destroys
 * the connection with every call on it; src/grpc/reset-guard.ts retires the connection
 * gracefully before that. Real server, real grpc-js client, one channel.
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import type { PredictStreamRequest, PredictStreamResponse } from '../src/gen/quiver/v1/prediction.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { Client, type Running, startServer } from './helpers/server.js';

/** Twice nghttp2's burst: more than enough to trip it however fast or slow the machine. */
const CANCELS = 2000;
/** Streams opened at once: under the server's maxConcurrentStreams (100), with the long call. */
const WAVE = 90;

let srv: Running;

test.before(async () => {
  srv = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`] });
});

test.after.always(async () => {
  await srv?.close();
});

const item = (id: string): PredictStreamRequest => ({
  request: { modelName: 'production-model', modelVersion: '', features: blueprintFeatures(BLUEPRINT_ROW), inputs: new Map(), id },
});

/** Writes one request on a PredictStream and resolves with its answer. */
function ask(call: grpc.ClientDuplexStream<PredictStreamRequest, PredictStreamResponse>, id: string): Promise<PredictStreamResponse> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    call.once('error', onError);
    call.once('data', (answer: PredictStreamResponse) => {
      call.off('error', onError);
      resolve(answer);
    });
    call.write(item(id));
  });
}

test('a burst of 2000 cancelled calls on one channel: the call in flight beside them completes, and the channel serves on', async (t) => {
  const client = new Client(srv.address);
  try {
    // The long call: open before the burst, still open after it.
    const long = client.raw.predictStream() as grpc.ClientDuplexStream<PredictStreamRequest, PredictStreamResponse>;
    const longStatus = new Promise<grpc.StatusObject>((resolve) => long.on('status', resolve));
    long.on('error', () => undefined);
    t.is((await ask(long, 'before')).id, 'before');

    // Each wave's streams are open at the server (each has had an answer) when they are
    // cancelled, so every cancel is an RST_STREAM the server receives.
    let cancelled = 0;
    while (cancelled < CANCELS) {
      const wave = Array.from(
        { length: Math.min(WAVE, CANCELS - cancelled) },
        () => client.raw.predictStream() as grpc.ClientDuplexStream<PredictStreamRequest, PredictStreamResponse>,
      );
      await Promise.all(wave.map((call, i) => ask(call, `burst-${cancelled + i}`)));
      for (const call of wave) {
        call.on('error', () => undefined);
        call.cancel();
      }
      cancelled += wave.length;
    }

    t.is((await ask(long, 'after')).id, 'after');
    long.end();
    const status = await longStatus;
    t.is(status.code, grpc.status.OK, `the long call ended with ${grpc.status[status.code]}: ${status.details}`);
    const ok = await client.predict({ features: blueprintFeatures(BLUEPRINT_ROW), id: 'next' });
    t.is(ok.id, 'next');
  } finally {
    client.close();
  }
});
