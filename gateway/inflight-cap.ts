/**
 * The server-wide in-flight cap (src/core/inflight-cap.ts) on the REST gateway: a request to a
 * predict route takes a slot in an onRequest hook, before its body is read or parsed, and
 * gives it back when its response closes (answered, or the client gone). When none is free it
 * is answered at once: 429 with Retry-After and the body of every RESOURCE_EXHAUSTED on its
 * route (grpc-gateway's `{code, message, details}`; the OIP's `{"error"}` under /v2/).
 */
import type { FastifyInstance } from 'fastify';

import type { InflightCap } from '../src/core/inflight-cap.js';
import { oipRestError } from './oip.js';
import { errorAnswer } from './status.js';

/** The blueprint's, the google.api.http bindings' and the OIP's routes that run a model. */
const PREDICT_PATH =
  /^(?:\/predict(?:\/batch)?|\/v1\/models\/[^/]+:(?:predict|batchPredict)|\/v2\/models\/[^/]+(?:\/versions\/[^/]+)?\/infer)$/;

function isPredictRoute(method: string, url: string): boolean {
  if (method !== 'POST') return false;
  const query = url.indexOf('?');
  return PREDICT_PATH.test(query < 0 ? url : url.slice(0, query));
}

/** Registers the hook; after the one that sets X-Request-Id, so refusals carry it too. */
export function capPredictRoutes(app: FastifyInstance, cap: InflightCap): void {
  const refusal = cap.refusal();
  app.addHook('onRequest', (req, reply, done) => {
    if (!isPredictRoute(req.method, req.url)) return done();
    if (!cap.tryEnter()) {
      // Answered from the hook: no done(), so no body is read and no route runs.
      if (req.url.startsWith('/v2/')) {
        const answer = oipRestError(refusal, undefined, req.id);
        void reply
          .code(answer.status)
          .headers(answer.headers ?? {})
          .send(answer.body);
      } else {
        const answer = errorAnswer(refusal, req.id, undefined);
        void reply.code(answer.status).headers(answer.headers).send(answer.body);
      }
      return;
    }
    reply.raw.once('close', () => cap.leave());
    done();
  });
}
