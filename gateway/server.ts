/**
 * The REST gateway (fastify): the blueprint's routes, every RPC's google.api.http binding,
 * the Open Inference Protocol v2 REST routes (in process), and /openapi.json. Errors are
 * grpc-gateway's `{code, message, details}` with the HTTP status of the error's code (OIP
 * routes: `{"error"}`); every answer has an X-Request-Id header, the id its log lines carry.
 * This file builds the fastify listeners (the inference plane's, and the registry plane's when
 * it has its own) and registers on them the route groups of routes/, the error handlers of
 * error-handlers.ts and the TLS of tls.ts.
 */
import type { AddressInfo } from 'node:net';

import type { Tracer } from '@opentelemetry/api';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

import { AccessPolicy } from '../src/auth/policy.js';
import type { InflightCap } from '../src/core/inflight-cap.js';
import type { CallContext } from '../src/core/context.js';
import { REQUEST_ID_KEY, requestIdOf } from '../src/core/request-id.js';
import type { OipRestResult } from './oip.js';
import { type PredictBackend } from './prediction.js';
import { guardFromOtherSites } from './browser-guard.js';
import { isConsoleRead, isRegistryOrConsolePath, noConsole, redirectToConsole, registerConsole } from './console.js';
import { loadRoot, rpcDescriptors } from './descriptors.js';
import { installErrorHandlers } from './error-handlers.js';
import { capPredictRoutes } from './inflight-cap.js';
import { type Invoker } from './invoker.js';
import { DEFAULT_JSON_LIMITS, type JsonLimits } from './json.js';
import { openApiDocument } from './openapi.js';
import { registerBlueprintRoutes } from './routes/blueprint.js';
import { isRegistryPath, isRegistryRpc } from './registry.js';
import { Inflight, type Plane, routeContext } from './routes/context.js';
import { registerOipAndHttpBindings } from './routes/oip-and-bindings.js';
import { type GatewayTls, httpsOptions } from './tls.js';
import { Router } from './transcode.js';

export interface GatewayOptions {
  readonly host: string;
  readonly port: number;
  /** Largest request body, bytes. */
  readonly bodyLimit: number;
  readonly maxJsonDepth: number;
  /**
   * Items in one batch request (/predict/batch, :batchPredict): the server's maxRequestRows.
   * Checked while the body is scanned, before it is parsed. Default 8192.
   */
  readonly maxRequestRows?: number;
  /** The model /predict and /model-info use when the request names none. */
  readonly defaultModel: string;
  /** Serve HTTPS (and with `ca`, require client certificates signed by it). */
  readonly tls?: GatewayTls;
  /**
   * The registry plane's own listener: the RegistryService routes and /reload-model, and
   * nothing of the inference plane. Absent: no second listener.
   */
  readonly registry?: { readonly host: string; readonly port: number };
  /**
   * Whether `port` serves the RegistryService routes too (the single-port layout). False:
   * they answer 404 there, naming the registry listener's port. Default: true without
   * `registry`, false with it.
   */
  readonly registryRoutesOnMain?: boolean;
  /** How long a request (headers and body) / its headers may take to arrive, ms (0: no limit); 408 beyond. */
  readonly requestTimeoutMs?: number;
  readonly headersTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, ms. */
  readonly keepAliveTimeoutMs?: number;
}

/** Where the options say nothing: the server options' defaults (keep-alive: fastify's). */
const DEFAULT_TIMEOUTS = { request: 30_000, headers: 10_000, keepAlive: 72_000 };

/** What the gateway needs from the server it fronts. */
export interface GatewayDeps {
  readonly invoker: Invoker;
  readonly predict: PredictBackend;
  /** Prometheus text and its content type. */
  readonly metrics: () => Promise<{ text: string; contentType: string }>;
  /** Set when tracing is on: each request gets a server span, passed on to the RPCs it calls. */
  readonly tracer?: Tracer;
  /** The Open Inference Protocol v2 REST routes: null when the path is not one of them. */
  readonly oip: (
    method: string,
    path: string,
    body: string | undefined,
    ctx: CallContext,
    requestId: string,
  ) => Promise<OipRestResult | null>;
  /** Who may call which route (the server's rules, applied with the HTTP client's address). */
  readonly access?: AccessPolicy;
  /** The server's cap on predict calls at once, shared with its gRPC port (absent: a sidecar, whose upstream caps). */
  readonly inflightCap?: InflightCap;
}

export interface Gateway {
  readonly port: number;
  readonly app: FastifyInstance;
  /** The registry plane's REST port, when the gateway has that listener. */
  readonly registryPort?: number;
  readonly registryApp?: FastifyInstance;
  close(): Promise<void>;
}

export async function startGateway(deps: GatewayDeps, options: GatewayOptions, log: Logger): Promise<Gateway> {
  const maxRequestRows = options.maxRequestRows ?? DEFAULT_JSON_LIMITS.maxRepeatedMessages;
  const jsonLimits: JsonLimits = { ...DEFAULT_JSON_LIMITS, maxRepeatedMessages: maxRequestRows };
  const rpcs = rpcDescriptors(loadRoot());
  const router = new Router(rpcs);
  // The registry plane: the registry's routes, and the console's live figures (console.ts).
  const registryRpcs = rpcs.filter((r) => isRegistryRpc(r) || isConsoleRead(r));
  const registryRouter = new Router(registryRpcs);
  const registryOnMain = options.registryRoutesOnMain ?? options.registry === undefined;
  // Each port describes the routes it serves.
  const openapi = {
    inference: openApiDocument(registryOnMain ? rpcs : rpcs.filter((r) => !isRegistryRpc(r))),
    registry: openApiDocument(registryRpcs, 'registry'),
  };
  const inflight = new Inflight();
  // Known once the registry listener is up; the inference port's 404s name it.
  let registryPort: number | undefined;
  const timeouts = {
    request: options.requestTimeoutMs ?? DEFAULT_TIMEOUTS.request,
    headers: options.headersTimeoutMs ?? DEFAULT_TIMEOUTS.headers,
    keepAlive: options.keepAliveTimeoutMs ?? DEFAULT_TIMEOUTS.keepAlive,
  };
  // Node checks the request and header timeouts on an interval (30 s by default): check often
  // enough that a slow client is cut near its limit.
  const limits = [timeouts.request, timeouts.headers].filter((t) => t > 0);
  const checkEvery = Math.max(10, Math.min(30_000, Math.floor(Math.min(...limits, 120_000) / 4)));
  const serverOptions = {
    requestTimeout: timeouts.request,
    headersTimeout: timeouts.request > 0 ? Math.min(timeouts.headers, timeouts.request) : timeouts.headers,
    connectionsCheckingInterval: checkEvery,
  };

  /** A 404's message: on the inference port, a registry path names the registry plane's port. */
  const noRoute = (method: string, path: string): string => {
    if (!isRegistryPath(path)) return `no route for ${method} ${path}`;
    if (registryOnMain || options.registry === undefined) return `no route for ${method} ${path}`;
    return `no route for ${method} ${path} on this port: the registry REST routes are served on the registry plane's HTTP port ${registryPort ?? options.registry.port} (option registryHttpPort, on registryHost ${options.registry.host})`;
  };
  const routes = routeContext({ deps, options, log, inflight, noRoute });

  const build = (plane: Plane): FastifyInstance => {
    const app = Fastify({
      bodyLimit: options.bodyLimit,
      requestTimeout: timeouts.request,
      keepAliveTimeout: timeouts.keepAlive,
      http: serverOptions,
      logger: false,
      // The caller's X-Request-Id when it is a plain token, else a new one: passed on to the RPCs.
      genReqId: (req) => requestIdOf(req.headers[REQUEST_ID_KEY]),
      forceCloseConnections: 'idle',
      return503OnClosing: true,
      ...httpsOptions(options.tls, serverOptions),
    }) as unknown as FastifyInstance;

    // Bodies arrive as text; each route parses them (depth-checked) as it needs.
    app.removeAllContentTypeParsers();
    const asText = (_req: unknown, body: string | Buffer, done: (err: null, body: string | Buffer) => void): void => done(null, body);
    app.addContentTypeParser('*', { parseAs: 'string' }, asText);
    // The common types by name too: fastify caches a named parser's lookup, not the catch-all's.
    app.addContentTypeParser(['application/json', 'application/x-ndjson'], { parseAs: 'string' }, asText);

    // A callback hook, not an async one: no promise per request.
    app.addHook('onRequest', (req, reply, done) => {
      reply.header(REQUEST_ID_KEY, req.id);
      done();
    });
    if (plane === 'inference' && deps.inflightCap !== undefined) capPredictRoutes(app, deps.inflightCap);
    // Other web pages in a local browser reach neither the registry nor the console (browser-guard.ts).
    guardFromOtherSites(
      app,
      plane === 'registry' ? () => true : registryOnMain ? isRegistryOrConsolePath : (path) => path === '/reload-model',
      {
        https: options.tls !== undefined,
        boundHost: plane === 'registry' ? (options.registry?.host ?? options.host) : options.host,
        access: deps.access ?? AccessPolicy.OPEN,
        log,
      },
    );
    installErrorHandlers(app, options.bodyLimit, noRoute, log);

    registerBlueprintRoutes(app, plane, routes, maxRequestRows);
    app.get('/openapi.json', async () => openapi[plane]);
    // The console lives with the registry's routes (console.ts); a server without a registry has none.
    if (plane === 'registry' || registryOnMain) registerConsole(app);
    else if (options.registry !== undefined)
      redirectToConsole(app, () => registryPort, { https: options.tls !== undefined, host: options.registry.host });
    else noConsole(app);
    registerOipAndHttpBindings(app, plane, routes, { router: plane === 'registry' ? registryRouter : router, registryOnMain, jsonLimits });

    return app;
  };

  const app = build('inference');
  let registryApp: FastifyInstance | undefined;
  try {
    if (options.registry !== undefined) {
      registryApp = build('registry');
      // Marked, so that a caller can tell which listener's port was taken.
      await registryApp.listen({ host: options.registry.host, port: options.registry.port }).catch((err: unknown) => {
        throw Object.assign(err as Error, { plane: 'registry' });
      });
      registryPort = (registryApp.server.address() as AddressInfo).port;
    }
    await app.listen({ host: options.host, port: options.port });
  } catch (err) {
    await registryApp?.close();
    await app.close();
    throw err;
  }
  const port = (app.server.address() as AddressInfo).port;
  return {
    port,
    app,
    ...(registryApp === undefined ? {} : { registryApp, registryPort: registryPort! }),
    async close() {
      await inflight.idle();
      await Promise.all([app.close(), registryApp?.close()]);
    },
  };
}
