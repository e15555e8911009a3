/**
 * Wrappers every gRPC handler goes through: a thrown error or rejected promise becomes a
 * status (a QuiverError's code and message, or INTERNAL with a generic message and the
 * cause in the log), never a crash (grpc-js lets a throwing handler take the process down).
 */
import { Metadata, type ServerUnaryCall, type ServiceError, type sendUnaryData, status } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { CallContext } from '../core/context.js';
import { invalidArgument, QuiverError, toQuiverError } from '../core/errors.js';
import { UndecodableRequest } from './codec.js';

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
  return ctx;
}

export function ensureDecoded<T>(request: T | UndecodableRequest): T {
  if (request instanceof UndecodableRequest) {
    throw invalidArgument(`the request message could not be decoded: ${request.reason}`);
  }
  return request;
}

export function unary<Req, Res>(
  method: string,
  log: Logger,
  handler: (request: Req, ctx: CallContext, call: ServerUnaryCall<Req | UndecodableRequest, Res>) => Promise<Res> | Res,
): (call: ServerUnaryCall<Req | UndecodableRequest, Res>, callback: sendUnaryData<Res>) => void {
  return (call, callback) => {
    let ctx: CallContext | undefined;
    try {
      ctx = contextOf(call);
      const request = ensureDecoded(call.request);
      Promise.resolve(handler(request, ctx, call)).then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err, log, method)),
      );
    } catch (err) {
      callback(toServiceError(err, log, method));
    }
  };
}
