/**
 * The gateway's error answers: grpc-gateway's body `{code, message, details}`, with the HTTP
 * status of the error's `QUIVER_ERR_*` code from the one table in src/core/errors.ts (read
 * from the `quiver-error-code` trailer when the error came back from a gRPC handler), and
 * the request id in `details` as a google.rpc.RequestInfo (and in the X-Request-Id header).
 */
import type { Logger } from 'pino';

import { reportError } from '../src/core/error-report.js';
import { clientText, ERROR_CODE_KEY, httpStatusOfAnswer } from '../src/core/errors.js';
import { GrpcCallError } from './invoker.js';

export const REQUEST_INFO_TYPE = 'type.googleapis.com/google.rpc.RequestInfo';

export interface RequestInfo {
  readonly '@type': typeof REQUEST_INFO_TYPE;
  readonly requestId: string;
}

export interface ErrorBody {
  readonly code: number;
  readonly message: string;
  readonly details: RequestInfo[];
}

export function errorBody(code: number, message: string, requestId: string): ErrorBody {
  return { code, message, details: [{ '@type': REQUEST_INFO_TYPE, requestId }] };
}

export interface ErrorAnswer {
  readonly status: number;
  readonly body: ErrorBody;
  /** `retry-after` when the error asks the client to back off. */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Any thrown value as the gateway's answer. A gRPC handler's error is already reported (its
 * cause logged, its message safe); anything else is reported here, with `requestId`.
 */
export function errorAnswer(err: unknown, requestId: string, log: Logger | undefined): ErrorAnswer {
  let grpcCode: number;
  let status: number;
  let message: string;
  let pushback: string | undefined;
  if (err instanceof GrpcCallError) {
    grpcCode = err.code;
    status = httpStatusOfAnswer(err.code, err.metadata.get(ERROR_CODE_KEY)[0]);
    // Our own server's answers are clean already; another server's (a sidecar's upstream) may not be.
    message = clientText(err.details);
    pushback = err.metadata.get('grpc-retry-pushback-ms')[0]?.toString();
  } else {
    const reported = reportError(err, log, requestId);
    grpcCode = reported.error.grpcStatus;
    status = reported.error.httpStatus;
    message = reported.message;
    pushback = reported.error.metadata['grpc-retry-pushback-ms'];
  }
  const headers: Record<string, string> =
    pushback === undefined ? {} : { 'retry-after': String(Math.max(1, Math.ceil(Number(pushback) / 1000))) };
  return { status, body: errorBody(grpcCode, message, requestId), headers };
}
