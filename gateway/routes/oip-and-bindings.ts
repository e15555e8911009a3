/**
 * Every path no other route serves: on the inference plane the Open Inference Protocol v2
 * REST routes (/v2/...) first, then the RPCs' google.api.http bindings, transcoded to gRPC.
 * A registry path on the inference port, when the registry has its own listener, is 404.
 */
import * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';

import { REGISTRY_SERVICE, scopeOfMethod, scopeOfRoute } from '../../src/auth/policy.js';
import { notFound } from '../../src/core/errors.js';
import { sendError } from '../error-handlers.js';
import type { JsonLimits } from '../json.js';
import { errorBody } from '../status.js';
import { type Router, transcode } from '../transcode.js';
import { isRegistryPath } from '../registry.js';
import type { Plane, RouteContext } from './context.js';

/** The routes of the listener of `plane`; `router` holds the bindings it serves. */
export function registerOipAndHttpBindings(
  app: FastifyInstance,
  plane: Plane,
  context: RouteContext,
  routing: { readonly router: Router; readonly registryOnMain: boolean; readonly jsonLimits: JsonLimits },
): void {
  const { deps, options, log, allow, callOptions, handle, text, noRoute } = context;
  const { router, registryOnMain, jsonLimits } = routing;
  // Everything else: OIP v2 REST, then the RPCs' google.api.http bindings.
  app.all(
    '/*',
    handle(async (req, reply) => {
      const url = new URL(req.url, 'http://gateway');
      const { options: o, ctx } = callOptions(req, reply);
      if (plane === 'inference' && (url.pathname === '/v2' || url.pathname.startsWith('/v2/'))) {
        // The one rule (src/auth/policy.ts): the OIP's liveness and readiness are open, like grpc.health.v1.
        const scope = scopeOfRoute(url.pathname);
        if (scope !== undefined) allow(req, scope, `${req.method} ${url.pathname}`);
        const res = await deps.oip(req.method, url.pathname, text(req), ctx, req.id);
        if (res !== null)
          return reply
            .code(res.status)
            .headers(res.headers ?? {})
            .send(res.body);
      }
      const match = router.match(req.method, url.pathname);
      if (match === null) return sendError(reply, notFound(noRoute(req.method, url.pathname)), log);
      if (plane === 'inference' && !registryOnMain && 'route' in match && match.route.rpc.service === REGISTRY_SERVICE)
        return sendError(reply, notFound(noRoute(req.method, url.pathname)), log);
      if (plane === 'inference' && !registryOnMain && 'allowed' in match && isRegistryPath(url.pathname))
        return sendError(reply, notFound(noRoute(req.method, url.pathname)), log);
      if ('allowed' in match) {
        return reply
          .code(405)
          .header('allow', match.allowed.join(', '))
          .send(
            errorBody(
              grpc.status.UNIMPLEMENTED,
              `${req.method} is not allowed on ${url.pathname}; use ${match.allowed.join(' or ')}`,
              req.id,
            ),
          );
      }
      const rpc = match.route.rpc;
      const scope = scopeOfMethod(rpc.service, rpc.name);
      if (scope !== undefined) allow(req, scope, `${req.method} ${url.pathname} (${rpc.service}/${rpc.name})`);
      const result = await transcode(
        deps.invoker,
        match.route,
        match.vars,
        url.searchParams,
        text(req),
        o,
        options.maxJsonDepth,
        jsonLimits,
      );
      if (result.lines !== undefined) return reply.header('content-type', 'application/x-ndjson').send(result.lines.join('\n') + '\n');
      return result.json;
    }),
  );
}
