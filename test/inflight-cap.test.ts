/**
 * The server-wide in-flight cap (maxInflight, issue 13 point 3) with a real server: raw HTTP/2
 * Predict calls whose request body is held back keep their slots (the cap counts a call from
 * its headers on), so the next predict call, over gRPC or REST, is refused at once with
 * RESOURCE_EXHAUSTED / 429 and the retry pushback; finishing or resetting a held call gives
 * its slot back, and calls are answered again.
 */
import http2 from 'node:http2';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import type { InflightCap } from '../src/core/inflight-cap.js';
import { PredictRequest } from '../src/gen/quiver/v1/prediction.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { grpcError, request, type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const PREDICT = '/quiver.v1.PredictionService/Predict';

let srv: Running;

test.before(async () => {
  srv = await startServer({
    models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`],
    maxInflight: 2,
    retryPushbackMs: 1500,
  });
});

test.after.always(async () => {
  await srv?.close();
});

const cap = (): InflightCap => (srv.server as unknown as { grpc: { inflightCap: InflightCap } }).grpc.inflightCap;

/** A Predict over raw HTTP/2 whose headers are sent and whose body is held back. */
function heldCall(session: http2.ClientHttp2Session): { finish(): Promise<string | undefined>; reset(): Promise<void> } {
  const req = session.request({ ':method': 'POST', ':path': PREDICT, 'content-type': 'application/grpc', te: 'trailers' });
  req.on('error', () => undefined);
  let status: string | undefined;
  req.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
  req.on('trailers', (h) => (status ??= h['grpc-status'] as string | undefined));
  req.resume();
  const closed = new Promise<void>((resolve) => req.on('close', resolve));
  return {
    async finish() {
      const body = PredictRequest.encode(request({ features: blueprintFeatures(BLUEPRINT_ROW) })).finish();
      const header = Buffer.alloc(5);
      header.writeUInt32BE(body.length, 1);
      req.end(Buffer.concat([header, body]));
      await closed;
      return status;
    },
    async reset() {
      req.close(http2.constants.NGHTTP2_CANCEL);
      await closed;
    },
  };
}

const restPredict = (path: string): Promise<Response> =>
  fetch(`${srv.http}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(path === '/predict' ? { features: Object.fromEntries(blueprintFeatures(BLUEPRINT_ROW)) } : {}),
  });

test.serial('at the cap, predict calls are refused at once with RESOURCE_EXHAUSTED and the pushback; slots come back', async (t) => {
  const session = http2.connect(`http://${srv.address}`);
  session.on('error', () => undefined);
  try {
    const a = heldCall(session);
    const b = heldCall(session);
    await eventually(() => cap().size === 2, 'both held calls counted');

    const refused = await grpcError(srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW), id: 'over' }));
    t.is(refused.code, grpc.status.RESOURCE_EXHAUSTED);
    t.regex(refused.details, /handling 2 calls at once \(maxInflight\); retry later/);
    t.deepEqual(refused.metadata.get('grpc-retry-pushback-ms'), ['1500']);
    t.deepEqual(refused.metadata.get('quiver-error-code'), ['QUIVER_ERR_QUEUE_FULL']);
    t.is(refused.metadata.get('x-request-id').length, 1);
    const batch = await grpcError(
      srv.client.batchPredict({ requests: [{ features: blueprintFeatures(BLUEPRINT_ROW), inputs: new Map(), id: '' }] }),
    );
    t.is(batch.code, grpc.status.RESOURCE_EXHAUSTED);
    // Not a predict method: not capped.
    t.is((await srv.client.metadata('production-model')).modelName, 'production-model');

    for (const path of ['/predict', '/predict/batch', '/v1/models/production-model:predict', '/v2/models/production-model/infer']) {
      const res = await restPredict(path);
      t.is(res.status, 429, path);
      t.is(res.headers.get('retry-after'), '2', path);
      t.truthy(res.headers.get('x-request-id'), path);
      if (path.startsWith('/v2/')) {
        // The Open Inference Protocol's error shape.
        t.regex(((await res.json()) as { error: string }).error, /maxInflight/, path);
      } else {
        const body = (await res.json()) as { code: number; message: string };
        t.is(body.code, grpc.status.RESOURCE_EXHAUSTED, path);
        t.regex(body.message, /maxInflight/, path);
      }
    }
    t.is((await fetch(`${srv.http}/health`)).status, 200);
    // Refusals hold no slot.
    t.is(cap().size, 2);
    t.is(cap().refused, 6);
    const metrics = await (await fetch(`${srv.metrics}/metrics`)).text();
    t.regex(metrics, /^quiver_inflight_refused_total 6$/m);

    // A held call finished: answered, its slot back.
    t.is(await a.finish(), '0');
    await eventually(() => cap().size === 1, 'the finished call left');
    // A held call reset by its client: its slot back too.
    await b.reset();
    await eventually(() => cap().size === 0, 'the reset call left');

    const ok = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW), id: 'again' });
    t.is(ok.id, 'again');
    const rest = await restPredict('/predict');
    t.is(rest.status, 200);
    await rest.arrayBuffer();
    await eventually(() => cap().size === 0, 'every answered call left');
  } finally {
    session.destroy();
  }
});
