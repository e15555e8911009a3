/**
 * The gRPC adapter's wrappers: each turns a grpc-js call into a handler call (src/handlers/)
 * with a CallContext, one per RPC kind, and the handler's answer or thrown error back into
 * the call. A thrown error or rejected promise becomes a status (a QuiverError's code and
 * message, or INTERNAL with a generic message and the cause in the log), never a crash
 * (grpc-js lets a throwing handler take the process down). Every error answer's trailers
 * carry its `quiver-error-code` and its `x-request-id` (the one its log line has).
 */
import {
  Metadata,
  type MethodDefinition,
  type ServerDuplexStream,
  type ServerReadableStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type UntypedHandleCall,
  type UntypedServiceImplementation,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';

import { ensureDecoded } from '../contract/codec.js';
import { CallContext, type CallMetadata, type CallPrincipal } from '../core/context.js';
import { reportError } from '../core/error-report.js';
import { ERROR_CODE_KEY, type QuiverError } from '../core/errors.js';
import { REQUEST_ID_KEY, requestIdOf } from '../core/request-id.js';
import type {
  AnyHandler,
  BidiStreamHandler,
  ClientStreamHandler,
  ServerStreamHandler,
  ServiceHandlers,
  UnaryHandler,
} from '../handlers/handler.js';
import { endSpan, serverSpan } from '../tracing/tracing.js';

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

/** The principal the access check (server.ts) authenticated, per call. */
const principals = new WeakMap<object, CallPrincipal>();

export function setPrincipal(call: object, principal: CallPrincipal): void {
  principals.set(call, principal);
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

/** grpc-js metadata as the handlers read it: the first text value of a key. */
export function metadataView(metadata: Metadata): CallMetadata {
  return {
    get(key) {
      const v = metadata.get(key)[0];
      return typeof v === 'string' ? v : undefined;
    },
  };
}

type AnyCall = {
  readonly metadata: Metadata;
  getDeadline(): Date | number;
  on(event: 'cancelled', l: () => void): unknown;
};

/** The call's deadline (epoch ms), cancellation, metadata and principal, as the handlers see them. */
export function contextOf(call: AnyCall): CallContext {
  const d = call.getDeadline();
  const deadline = d instanceof Date ? d.getTime() : d;
  const ctx = new CallContext(Number.isFinite(deadline) ? deadline : Infinity, metadataView(call.metadata), principals.get(call));
  call.on('cancelled', () => ctx.cancel());
  // Cancelled before the handler ran (the event has fired already).
  if ((call as { cancelled?: boolean }).cancelled === true) ctx.cancel();
  return ctx;
}

/** The call's server span when tracing is on, named by its gRPC path. */
function traceCall(inflight: InflightCalls, call: { getPath?: () => string; metadata: Metadata }, method: string, ctx: CallContext) {
  if (inflight.tracer === undefined) return undefined;
  const traced = serverSpan(inflight.tracer, typeof call.getPath === 'function' ? call.getPath().slice(1) : method, call.metadata, {
    'rpc.system': 'grpc',
    'rpc.method': method,
  });
  ctx.trace = traced.hook;
  return traced;
}

export interface Adapter {
  readonly log: Logger;
  readonly inflight: InflightCalls;
}

export function unary(method: string, handler: UnaryHandler<unknown, unknown>, { log, inflight }: Adapter) {
  return (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    inflight.enter();
    let traced: ReturnType<typeof traceCall>;
    const reply: sendUnaryData<unknown> = (err, res) => {
      inflight.leave();
      if (traced !== undefined) endSpan(traced.span, err?.code ?? 0, err?.details);
      callback(err, res);
    };
    try {
      const ctx = contextOf(call);
      traced = traceCall(inflight, call, method, ctx);
      Promise.resolve(handler(ensureDecoded(call.request), ctx)).then(
        (res) => reply(null, res),
        (err: unknown) => reply(toServiceError(err, log, method, call.metadata)),
      );
    } catch (err) {
      reply(toServiceError(err, log, method, call.metadata));
    }
  };
}

function clientStream(method: string, handler: ClientStreamHandler<unknown, unknown>, { log, inflight }: Adapter) {
  return (call: ServerReadableStream<unknown, unknown>, callback: sendUnaryData<unknown>): void => {
    inflight.enter();
    const reply: sendUnaryData<unknown> = (err, res) => {
      inflight.leave();
      callback(err, res);
    };
    void (async () => handler(call, contextOf(call)))().then(
      (res) => reply(null, res),
      (err: unknown) => reply(toServiceError(err, log, method, call.metadata)),
    );
  };
}

/**
 * Writes a stream handler's answers. A server stream waits for the transport when its buffer
 * is full; a bidi stream does not (grpc-js may hold a duplex call's 'drain' while the client
 * is still sending), its handler bounds what is in flight instead (STREAM_WINDOW).
 */
async function writeAll(
  call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>,
  answers: AsyncIterable<unknown>,
  written: () => void,
  waitForDrain: boolean,
): Promise<void> {
  for await (const answer of answers) {
    if (call.cancelled) return;
    const more = call.write(answer);
    written();
    if (!more && waitForDrain) await new Promise<void>((resolve) => call.once('drain', resolve));
  }
}

function serverStream(method: string, handler: ServerStreamHandler<unknown, unknown>, { log, inflight }: Adapter) {
  return (call: ServerWritableStream<unknown, unknown>): void => {
    inflight.enter();
    void (async () => {
      await writeAll(call, handler(ensureDecoded(call.request), contextOf(call)), () => undefined, true);
      call.end();
    })()
      .catch((err: unknown) => call.emit('error', toServiceError(err, log, method, call.metadata)))
      .finally(() => inflight.leave());
  };
}

/** A bidi stream counts each request in flight until its answer is written (one answer per request). */
function bidiStream(method: string, handler: BidiStreamHandler<unknown, unknown>, { log, inflight }: Adapter) {
  return (call: ServerDuplexStream<unknown, unknown>): void => {
    let ctx: CallContext;
    try {
      ctx = contextOf(call);
    } catch (err) {
      call.emit('error', toServiceError(err, log, method, call.metadata));
      return;
    }
    let open = 0;
    async function* counted(): AsyncGenerator<unknown> {
      // Not `for await (… of call)`: a finished iteration would destroy the duplex, answers unsent.
      for await (const msg of call.iterator({ destroyOnReturn: false })) {
        open++;
        inflight.enter();
        yield msg;
      }
    }
    const written = (): void => {
      if (open > 0) {
        open--;
        inflight.leave();
      }
    };
    call.on('error', (err) => log.debug({ err }, `${method} stream error`));
    void writeAll(call, handler(counted(), ctx), written, false)
      .then(() => call.end())
      .catch((err: unknown) => call.emit('error', toServiceError(err, log, method, call.metadata)))
      .finally(() => {
        for (; open > 0; open--) inflight.leave();
      });
  };
}

/** The grpc-js implementation of a service: each definition's handler wrapped for its kind. */
export function grpcImplementation(
  definition: Readonly<Record<string, Pick<MethodDefinition<unknown, unknown>, 'path' | 'requestStream' | 'responseStream'>>>,
  handlers: ServiceHandlers,
  adapter: Adapter,
): UntypedServiceImplementation {
  const implementation: Record<string, UntypedHandleCall> = {};
  for (const [name, method] of Object.entries(definition)) {
    const handler = handlers[name] as AnyHandler | undefined;
    if (handler === undefined) continue;
    const rpc = method.path.slice(method.path.lastIndexOf('/') + 1);
    const h = handler as never;
    implementation[name] = method.requestStream
      ? method.responseStream
        ? bidiStream(rpc, h, adapter)
        : clientStream(rpc, h, adapter)
      : method.responseStream
        ? serverStream(rpc, h, adapter)
        : unary(rpc, h, adapter);
  }
  return implementation;
}
