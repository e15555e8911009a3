/**
 * Wrappers every gRPC handler goes through: a thrown error or rejected promise becomes a
 * status (a QuiverError's code and message, or INTERNAL with a generic message and the
 * cause in the log), never a crash (grpc-js lets a throwing handler take the process down).
 * Every error answer's trailers carry its `quiver-error-code` (so the gateway answers with
 * that code's HTTP status) and its `x-request-id` (the one its log line has).
 */
import { Metadata, type ServerUnaryCall, type ServiceError, type sendUnaryData, status } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';

import { CallContext } from '../core/context.js';
import { reportError } from '../core/error-report.js';
import { ERROR_CODE_KEY, invalidArgument, type QuiverError } from '../core/errors.js';
import { REQUEST_ID_KEY, requestIdOf } from '../core/request-id.js';
import { endSpan, serverSpan } from '../tracing/tracing.js';
import { UndecodableRequest } from './codec.js';

/**
 * Counts calls (and stream items) being answered, so shutdown can tell "every request has
 * its answer" apart from "idle long-lived streams are still open" (health watchers, idle
 * PredictStreams), which would otherwise hold grpc-js's tryShutdown for the whole grace.
 */
export class InflightCalls {
  /** Set when tracing is on: every call then gets a server span. */
  tracer: Tracer | undefined;
  private count = 0;
  private waiters: Array<() => void> = [];

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
    }
  }

  get size(): number {
    return this.count;
  }

  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/**
 * A thrown value as the call's status: the cause logged (with the request id) and kept off
 * the wire. `request` is the call's metadata, for the caller's own `x-request-id`.
 */
export function toServiceError(err: unknown, log: Logger | undefined, method: string, request?: Metadata): Partial<ServiceError> {
  const requestId = requestIdOf(request?.get(REQUEST_ID_KEY)[0]);
  const { error, message } = reportError(err, log, requestId, { method });
  return serviceError(error, message, requestId);
}

function serviceError(error: QuiverError, message: string, requestId: string): Partial<ServiceError> {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(error.metadata)) metadata.set(k, v);
  metadata.set(ERROR_CODE_KEY, error.code);
  metadata.set(REQUEST_ID_KEY, requestId);
  return { code: error.grpcStatus as number as status, details: message, metadata };
}

/** The call's deadline (epoch ms) and cancellation, as the core sees them. */
export function contextOf(call: { getDeadline(): Date | number; on(event: 'cancelled', l: () => void): unknown }): CallContext {
  const d = call.getDeadline();
  const deadline = d instanceof Date ? d.getTime() : d;
  const ctx = new CallContext(Number.isFinite(deadline) ? deadline : Infinity);
  call.on('cancelled', () => ctx.cancel());
  // Cancelled before the handler ran (the event has fired already).
  if ((call as { cancelled?: boolean }).cancelled === true) ctx.cancel();
  return ctx;
}

export function ensureDecoded<T>(request: T | UndecodableRequest): T {
  if (request instanceof UndecodableRequest) {
    throw invalidArgument(request.overLimit ? request.reason : `the request message could not be decoded: ${request.reason}`);
  }
  return request;
}

export function unary<Req, Res>(
  method: string,
  log: Logger,
  inflight: InflightCalls,
  handler: (request: Req, ctx: CallContext, call: ServerUnaryCall<Req | UndecodableRequest, Res>) => Promise<Res> | Res,
): (call: ServerUnaryCall<Req | UndecodableRequest, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    inflight.enter();
    // The span is named by the gRPC path (the in-process gateway's calls have none: the method name).
    const traced =
      inflight.tracer === undefined
        ? undefined
        : serverSpan(inflight.tracer, typeof call.getPath === 'function' ? call.getPath().slice(1) : method, call.metadata, {
            'rpc.system': 'grpc',
            'rpc.method': method,
          });
    const reply: sendUnaryData<Res> = (err, res) => {
      inflight.leave();
      if (traced !== undefined) endSpan(traced.span, err?.code ?? 0, err?.details);
      callback(err, res);
    };
    try {
      const ctx = contextOf(call);
      if (traced !== undefined) ctx.trace = traced.hook;
      const request = ensureDecoded(call.request);
      Promise.resolve(handler(request, ctx, call)).then(
        (res) => reply(null, res),
        (err: unknown) => reply(toServiceError(err, log, method, call.metadata)),
      );
    } catch (err) {
      reply(toServiceError(err, log, method, call.metadata));
    }
  };
}
