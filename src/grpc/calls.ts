/**
 * Wrappers every gRPC handler goes through: a thrown error or rejected promise becomes a
 * status (a QuiverError's code and message, or INTERNAL with a generic message and the
 * cause in the log), never a crash (grpc-js lets a throwing handler take the process down).
 */
import { Metadata, type ServerUnaryCall, type ServiceError, type sendUnaryData, status } from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';

import { CallContext } from '../core/context.js';
import { invalidArgument, QuiverError, toQuiverError } from '../core/errors.js';
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

export function toServiceError(err: unknown, log: Logger, method: string): Partial<ServiceError> {
  const q = toQuiverError(err);
  if (!(err instanceof QuiverError)) log.error({ err, method }, 'unhandled error in handler');
  else if (q.cause !== undefined) log.warn({ err: q.cause, method, code: q.code }, q.message);
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(q.metadata)) metadata.set(k, v);
  return { code: q.grpcStatus as number as status, details: q.message, metadata };
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
        (err: unknown) => reply(toServiceError(err, log, method)),
      );
    } catch (err) {
      reply(toServiceError(err, log, method));
    }
  };
}
