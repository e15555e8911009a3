/**
 * What every route group shares: which plane a listener serves, the access check, the call
 * options a request's RPCs carry (deadline, metadata, trace, cancellation), and `handle`, the
 * wrapper that counts a request in flight, traces it and sends its error answer.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import { AccessPolicy, isLocalPeer, scopeOfRoute } from '../../src/auth/policy.js';
import type { Scope } from '../../src/auth/tokens.js';
import { CallContext } from '../../src/core/context.js';
import { REQUEST_ID_KEY } from '../../src/core/request-id.js';
import { endSpan, injectTraceContext, serverSpan } from '../../src/tracing/tracing.js';
import { sendError } from '../error-handlers.js';
import type { CallOptions } from '../invoker.js';
import type { GatewayDeps, GatewayOptions } from '../server.js';
import { deadlineFromHeader, metadataFromHeaders } from '../transcode.js';

/** Which routes a listener serves. */
export type Plane = 'inference' | 'registry';

/** Answers counted in flight, so shutdown can wait for them. */
export class Inflight {
  count = 0;
  private waiters: Array<() => void> = [];
  leave(): void {
    if (--this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

export interface RouteContext {
  readonly deps: GatewayDeps;
  readonly options: GatewayOptions;
  readonly log: Logger;
  /** The access check for a route: throws UNAUTHENTICATED / PERMISSION_DENIED (401 / 403). */
  allow(req: FastifyRequest, scope: Scope, what: string): void;
  /** The access check for a blueprint route, by the one rule (scopeOfRoute). */
  allowRoute(req: FastifyRequest, path: string): void;
  /** A request's call context: its deadline, its cancellation (the client going away), its trace. */
  callContext(req: FastifyRequest, reply: FastifyReply): CallContext;
  /** The options of the RPCs a request makes with `ctx` (its metadata, deadline, cancellation, peer). */
  rpcOptions(req: FastifyRequest, ctx: CallContext): CallOptions;
  /** Both at once. */
  callOptions(req: FastifyRequest, reply: FastifyReply): { options: CallOptions; ctx: CallContext };
  /** Wraps a route: in-flight counting, its trace span and the error body. */
  handle(fn: Handler): Handler;
  /** The request body as text (bodies arrive as text; each route parses them as it needs). */
  text(req: FastifyRequest): string | undefined;
  /** One unary RPC with a message of `type`: the response's bytes. */
  unary(path: string, type: { encode(m: unknown): { finish(): Uint8Array } }, message: unknown, o: CallOptions): Promise<Buffer>;
  /** A 404's message for `method path`. */
  noRoute(method: string, path: string): string;
}

export function routeContext(shared: {
  readonly deps: GatewayDeps;
  readonly options: GatewayOptions;
  readonly log: Logger;
  readonly inflight: Inflight;
  readonly noRoute: (method: string, path: string) => string;
}): RouteContext {
  const { deps, options, log, inflight, noRoute } = shared;
  const spans = new WeakMap<FastifyRequest, ReturnType<typeof serverSpan>>();
  const access = deps.access ?? AccessPolicy.OPEN;

  const allow = (req: FastifyRequest, scope: Scope, what: string): void => {
    access.authorize(scope, req.headers.authorization, isLocalPeer(req.socket.remoteAddress), what);
  };

  const allowRoute = (req: FastifyRequest, path: string): void => {
    const scope = scopeOfRoute(path);
    if (scope !== undefined) allow(req, scope, `${req.method} ${path}`);
  };

  const callContext = (req: FastifyRequest, reply: FastifyReply): CallContext => {
    // The headers, read lazily, as the call's metadata (x-quiver-route-key keeps a canary assignment sticky).
    const ctx = new CallContext(deadlineFromHeader(req.headers['grpc-timeout']), {
      get: (key) => {
        const v = req.headers[key];
        return Array.isArray(v) ? v[0] : v;
      },
    });
    const traced = spans.get(req);
    if (traced !== undefined) ctx.trace = traced.hook;
    // The response closing before it was fully written means the client went away.
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) ctx.cancel();
    });
    return ctx;
  };

  // Built only for the RPCs that need them: the in-process /predict path never does.
  const rpcOptions = (req: FastifyRequest, ctx: CallContext): CallOptions => {
    const controller = new AbortController();
    ctx.onCancel(() => controller.abort());
    const metadata = metadataFromHeaders(req.headers);
    metadata.set(REQUEST_ID_KEY, req.id);
    const traced = spans.get(req);
    // The RPCs this request makes continue its trace.
    if (traced !== undefined) injectTraceContext(traced.span, metadata);
    return { metadata, deadline: ctx.deadline, signal: controller.signal, peer: req.socket.remoteAddress, trace: ctx.trace };
  };

  const callOptions = (req: FastifyRequest, reply: FastifyReply): { options: CallOptions; ctx: CallContext } => {
    const ctx = callContext(req, reply);
    return { options: rpcOptions(req, ctx), ctx };
  };

  const handle =
    (fn: Handler) =>
    async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      inflight.count++;
      const traced =
        deps.tracer === undefined
          ? undefined
          : serverSpan(deps.tracer, `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`, req.headers, {
              'http.request.method': req.method,
              'url.path': req.url.split('?')[0] ?? '',
            });
      if (traced !== undefined) spans.set(req, traced);
      try {
        return await fn(req, reply);
      } catch (err) {
        return sendError(reply, err, log);
      } finally {
        inflight.leave();
        if (traced !== undefined) {
          traced.span.setAttribute('http.response.status_code', reply.statusCode);
          endSpan(traced.span, reply.statusCode >= 500 ? 2 : 0);
        }
      }
    };

  const text = (req: FastifyRequest): string | undefined => (typeof req.body === 'string' ? req.body : undefined);

  const unary = async (
    path: string,
    type: { encode(m: unknown): { finish(): Uint8Array } },
    message: unknown,
    o: CallOptions,
  ): Promise<Buffer> => deps.invoker.unary(path, Buffer.from(type.encode(message).finish()), o);

  return { deps, options, log, allow, allowRoute, callContext, rpcOptions, callOptions, handle, text, unary, noRoute };
}
