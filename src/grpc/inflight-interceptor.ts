/**
 * The in-flight cap (src/core/inflight-cap.ts) on the gRPC transport: a grpc-js server
 * interceptor on the predict methods. It decides when the call's headers arrive, before
 * grpc-js reads the request message: a refused call's body is never decoded, validated,
 * authenticated, traced or logged; it gets a trailers-only RESOURCE_EXHAUSTED with
 * `grpc-retry-pushback-ms`, `quiver-error-code` and `x-request-id`, as every error answer has.
 * (A check in the call adapter, calls.ts, would come after grpc-js has decoded the message.)
 */
import { Metadata, type ServerInterceptingCallInterface, ServerInterceptingCall, type ServerInterceptor, status } from '@grpc/grpc-js';

import { OIP_SERVICE_NAME, PREDICTION_SERVICE_NAME } from '../contract/services.js';
import type { InflightCap } from '../core/inflight-cap.js';
import { ERROR_CODE_KEY } from '../core/errors.js';
import { REQUEST_ID_KEY, requestIdOf } from '../core/request-id.js';

/**
 * The unary calls that run a model. Streams are left out: a PredictStream is long-lived and
 * mostly idle, and bounds its own requests in flight (its handler's window).
 */
const CAPPED_METHODS: ReadonlySet<string> = new Set([
  `/${PREDICTION_SERVICE_NAME}/Predict`,
  `/${PREDICTION_SERVICE_NAME}/BatchPredict`,
  `/${OIP_SERVICE_NAME}/ModelInfer`,
]);

export function inflightInterceptor(cap: InflightCap): ServerInterceptor {
  const error = cap.refusal();
  const trailers = new Metadata();
  for (const [k, v] of Object.entries(error.metadata)) trailers.set(k, v);
  trailers.set(ERROR_CODE_KEY, error.code);

  const refuse = (call: ServerInterceptingCallInterface, request: Metadata): void => {
    const metadata = trailers.clone();
    metadata.set(REQUEST_ID_KEY, requestIdOf(request.get(REQUEST_ID_KEY)[0]));
    call.sendStatus({ code: status.RESOURCE_EXHAUSTED, details: error.message, metadata });
  };

  return (method, call) => {
    // Other methods get the call itself: no wrapper per call. (grpc-js's type asks for its
    // class, but it only ever uses the interface: server-interceptors.js chains them by it.)
    if (!CAPPED_METHODS.has(method.path)) return call as ServerInterceptingCall;
    let holding = false;
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            if (!cap.tryEnter()) return refuse(call, metadata);
            holding = true;
            pass(metadata);
          },
          // grpc-js calls onCancel once at the end of every call it started: after its status
          // went out, or when the stream closed first (the client cancelled, the deadline).
          onCancel() {
            if (!holding) return;
            holding = false;
            cap.leave();
          },
        });
      },
    });
  };
}
