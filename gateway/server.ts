/**
 * The REST gateway (fastify): the blueprint's routes, every RPC's google.api.http binding,
 * the Open Inference Protocol v2 REST routes (in process), and /openapi.json. Errors are
 * grpc-gateway's `{code, message, details}` with the HTTP status of the error's code (OIP
 * routes: `{"error"}`); every answer has an X-Request-Id header, the id its log lines carry.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';

import * as grpc from '@grpc/grpc-js';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

import { CallContext } from '../src/core/context.js';
import { AccessPolicy, isLocalPeer, REGISTRY_SERVICE, scopeOfMethod, scopeOfRoute } from '../src/auth/policy.js';
import type { Scope } from '../src/auth/tokens.js';
import { invalidArgument, invalidConfig, notFound, tooLarge } from '../src/core/errors.js';
import { REQUEST_ID_KEY, requestIdOf } from '../src/core/request-id.js';
import type { Tracer } from '@opentelemetry/api';

import type { OipRestResult } from '../src/oip/rest.js';
import { endSpan, injectTraceContext, serverSpan } from '../src/tracing/tracing.js';
import { type PredictBackend } from './blueprint.js';
import { loadRoot, rpcDescriptors } from './descriptors.js';
import { type CallOptions, GrpcCallError, type Invoker } from './invoker.js';
import { DEFAULT_JSON_LIMITS, type JsonLimits, parseBody, scanLimits } from './json.js';
import { openApiDocument } from './openapi.js';
import { errorAnswer, errorBody } from './status.js';
import { deadlineFromHeader, metadataFromHeaders, Router, transcode } from './transcode.js';
import {
  GetModelMetadataRequest,
  GetModelMetadataResponse,
  GetStatsRequest,
  GetStatsResponse,
  GetVersionRequest,
  GetVersionResponse,
  HealthCheckRequest,
  HealthCheckResponse,
  ListModelsRequest,
  ListModelsResponse,
  ReloadModelRequest,
  ReloadModelResponse,
  Stage,
} from './wire.js';

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

export interface GatewayTls {
  readonly key: Buffer;
  readonly cert: Buffer;
  /** Client certificates must be signed by this CA (mTLS). */
  readonly ca?: Buffer;
}

/** The gateway's TLS settings from the server options (the same files as gRPC's). */
export function gatewayTls(options: {
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsClientCa: string;
  readonly tlsClientAuth: boolean;
}): GatewayTls | undefined {
  if (options.tlsCert === '') return undefined;
  const read = (key: 'tlsCert' | 'tlsKey' | 'tlsClientCa'): Buffer => {
    try {
      return readFileSync(options[key]);
    } catch (err) {
      throw invalidConfig(`option ${key}: cannot read ${options[key]}: ${(err as Error).message}`);
    }
  };
  return { key: read('tlsKey'), cert: read('tlsCert'), ...(options.tlsClientAuth ? { ca: read('tlsClientCa') } : {}) };
}

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
  /** In process: the gRPC handlers' key, so they check the HTTP client's address (not ours). */
  readonly gatewayKey?: string;
}

export interface Gateway {
  readonly port: number;
  readonly app: FastifyInstance;
  /** The registry plane's REST port, when the gateway has that listener. */
  readonly registryPort?: number;
  readonly registryApp?: FastifyInstance;
  close(): Promise<void>;
}

const isRegistryPath = (path: string): boolean => path === '/v1/registry' || path.startsWith('/v1/registry/');

/** Which routes a listener serves. */
type Plane = 'inference' | 'registry';

/** Answers counted in flight, so shutdown can wait for them. */
class Inflight {
  count = 0;
  private waiters: Array<() => void> = [];
  leave(): void {
    if (--this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }
}

/** The blueprint's snake_case for proto3 JSON field names; map keys (codes, classes) stay as they are. */
function snakeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snakeKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([k, x]) => [
      /^[a-z][a-zA-Z0-9]*$/.test(k) ? k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : k,
      snakeKeys(x),
    ]),
  );
}

function sendError(reply: FastifyReply, err: unknown, log: Logger): FastifyReply {
  const answer = errorAnswer(err, reply.request.id, log);
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

export async function startGateway(deps: GatewayDeps, options: GatewayOptions, log: Logger): Promise<Gateway> {
  const maxRequestRows = options.maxRequestRows ?? DEFAULT_JSON_LIMITS.maxRepeatedMessages;
  const jsonLimits: JsonLimits = { ...DEFAULT_JSON_LIMITS, maxRepeatedMessages: maxRequestRows };
  const rpcs = rpcDescriptors(loadRoot());
  const router = new Router(rpcs);
  const registryRouter = new Router(rpcs.filter((r) => r.service === REGISTRY_SERVICE));
  const registryOnMain = options.registryRoutesOnMain ?? options.registry === undefined;
  // Each port describes the routes it serves.
  const openapi = {
    inference: openApiDocument(registryOnMain ? rpcs : rpcs.filter((r) => r.service !== REGISTRY_SERVICE)),
    registry: openApiDocument(
      rpcs.filter((r) => r.service === REGISTRY_SERVICE),
      'registry',
    ),
  };
  const inflight = new Inflight();
  const spans = new WeakMap<FastifyRequest, ReturnType<typeof serverSpan>>();
  const access = deps.access ?? AccessPolicy.OPEN;
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
      ...(options.tls === undefined
        ? {}
        : {
            https: {
              ...serverOptions,
              key: options.tls.key,
              cert: options.tls.cert,
              ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true }),
            },
          }),
    }) as unknown as FastifyInstance;

    /** The access check for a route: throws UNAUTHENTICATED / PERMISSION_DENIED (401 / 403). */
    const allow = (req: FastifyRequest, scope: Scope, what: string): void => {
      access.authorize(scope, req.headers.authorization, isLocalPeer(req.socket.remoteAddress), what);
    };

    /** The access check for a blueprint route, by the one rule (scopeOfRoute). */
    const allowRoute = (req: FastifyRequest, path: string): void => {
      const scope = scopeOfRoute(path);
      if (scope !== undefined) allow(req, scope, `${req.method} ${path}`);
    };

    // Bodies arrive as text; each route parses them (depth-checked) as it needs.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    app.addHook('onRequest', async (req, reply) => {
      reply.header(REQUEST_ID_KEY, req.id);
    });
    app.setErrorHandler((err: { statusCode?: number; code?: string; message: string }, req, reply) => {
      if (err.statusCode === 413) return sendError(reply, tooLarge(`request body over the limit of ${options.bodyLimit} bytes`), log);
      // fastify's own refusals (a malformed request): its status, the request's fault.
      if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
        return reply.code(err.statusCode).send(errorBody(grpc.status.INVALID_ARGUMENT, err.message, req.id));
      }
      return sendError(reply, err, log);
    });
    app.setNotFoundHandler((req, reply) => sendError(reply, notFound(noRoute(req.method, req.url.split('?')[0] ?? '')), log));

    const callOptions = (req: FastifyRequest, reply: FastifyReply): { options: CallOptions; ctx: CallContext } => {
      const controller = new AbortController();
      const deadline = deadlineFromHeader(req.headers['grpc-timeout']);
      const ctx = new CallContext(deadline);
      const metadata = metadataFromHeaders(req.headers);
      metadata.set(REQUEST_ID_KEY, req.id);
      if (deps.gatewayKey !== undefined) {
        metadata.set('quiver-gateway-key', deps.gatewayKey);
        metadata.set('quiver-gateway-peer', req.socket.remoteAddress ?? '');
      }
      const traced = spans.get(req);
      if (traced !== undefined) {
        ctx.trace = traced.hook;
        // The RPCs this request makes continue its trace.
        injectTraceContext(traced.span, metadata);
      }
      // The response closing before it was fully written means the client went away.
      reply.raw.on('close', () => {
        if (reply.raw.writableFinished) return;
        controller.abort();
        ctx.cancel();
      });
      return { options: { metadata, deadline, signal: controller.signal }, ctx };
    };

    /** Wraps a route: in-flight counting and the error body. */
    const handle =
      (fn: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
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

    if (plane === 'inference') {
      app.post(
        '/predict',
        handle(async (req, reply) => {
          allowRoute(req, '/predict');
          const { options: o, ctx } = callOptions(req, reply);
          return deps.predict.predict(parseBody(text(req) ?? '', options.maxJsonDepth), ctx, o);
        }),
      );
      app.post(
        '/predict/batch',
        handle(async (req, reply) => {
          allowRoute(req, '/predict/batch');
          const { options: o, ctx } = callOptions(req, reply);
          const body = parseBody(text(req) ?? '', options.maxJsonDepth, 'request body', scanLimits(options.maxJsonDepth, maxRequestRows));
          return deps.predict.predictBatch(body, ctx, o);
        }),
      );
      app.get(
        '/metrics',
        handle(async (_req, reply) => {
          const m = await deps.metrics();
          return reply.header('content-type', m.contentType).send(m.text);
        }),
      );
      app.get(
        '/stats',
        handle(async (req, reply) => {
          allowRoute(req, '/stats');
          const { options: o } = callOptions(req, reply);
          const q = req.query as Record<string, string | undefined>;
          const res = GetStatsResponse.decode(
            await unary('/quiver.v1.PredictionService/GetStats', GetStatsRequest, { modelName: q.model ?? q.model_name ?? '' }, o),
          );
          return snakeKeys(GetStatsResponse.toJSON(res));
        }),
      );

      app.get(
        '/health',
        handle(async (req, reply) => {
          const { options: o } = callOptions(req, reply);
          let serving: boolean;
          try {
            serving =
              HealthCheckResponse.decode(await unary('/grpc.health.v1.Health/Check', HealthCheckRequest, { service: '' }, o)).status === 1;
          } catch {
            serving = false;
          }
          // The model list is inference data: with authInference it needs the infer scope; health
          // itself stays open for probes (model_loaded then follows SERVING, which implies it).
          let models: ListModelsResponse['models'] = [];
          let listed = false;
          if (serving) {
            try {
              models = ListModelsResponse.decode(await unary('/quiver.v1.PredictionService/ListModels', ListModelsRequest, {}, o)).models;
              listed = true;
            } catch (err) {
              const code = err instanceof GrpcCallError ? err.code : undefined;
              if (code !== grpc.status.UNAUTHENTICATED && code !== grpc.status.PERMISSION_DENIED) throw err;
            }
          }
          return reply.code(serving ? 200 : 503).send({
            status: serving ? 'healthy' : 'unhealthy',
            serving,
            model_loaded: listed ? models.some((m) => m.ready) : serving,
            models: models.map((m) => ({
              name: m.name,
              versions: m.versions,
              default_version: m.defaultVersion,
              aliases: Object.fromEntries(m.aliases),
            })),
            timestamp: new Date().toISOString(),
          });
        }),
      );
      app.get(
        '/model-info',
        handle(async (req, reply) => {
          allowRoute(req, '/model-info');
          const { options: o } = callOptions(req, reply);
          const q = req.query as Record<string, string | undefined>;
          const model = q.model ?? q.model_name ?? options.defaultModel;
          const version = q.version ?? q.model_version ?? '';
          const meta = GetModelMetadataResponse.decode(
            await unary(
              '/quiver.v1.PredictionService/GetModelMetadata',
              GetModelMetadataRequest,
              { modelName: model, modelVersion: version },
              o,
            ),
          );
          let registry: Record<string, unknown> = {};
          try {
            const v = GetVersionResponse.decode(
              await unary('/quiver.v1.RegistryService/GetVersion', GetVersionRequest, { modelName: model, version: meta.modelVersion }, o),
            ).version;
            if (v !== undefined) {
              registry = {
                stage:
                  Stage[v.stage]
                    ?.replace('STAGE_', '')
                    .toLowerCase()
                    .replace(/^./, (c) => c.toUpperCase()) ?? 'None',
                description: v.description,
                metrics: Object.fromEntries(v.lineage?.metrics ?? new Map()),
                lineage: {
                  algorithm: v.lineage?.algorithm ?? '',
                  dataset_sha256: v.lineage?.datasetSha256 ?? '',
                  dataset_rows: v.lineage?.datasetRows ?? 0,
                  experiment_name: v.lineage?.experimentName ?? '',
                  code_version: v.lineage?.codeVersion ?? '',
                },
                created_by: v.createdBy,
                created_at: v.createdAt?.toISOString(),
              };
            }
          } catch {
            // Served from a file, not the registry: no stage or lineage to show.
          }
          return {
            model_name: meta.modelName,
            model_version: meta.modelVersion,
            versions: meta.versions,
            aliases: Object.fromEntries(meta.aliases),
            platform: meta.platform,
            task: meta.task === 1 ? 'classification' : meta.task === 2 ? 'regression' : 'unspecified',
            features: meta.featureNames,
            class_labels: meta.classLabels,
            inputs: meta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })),
            outputs: meta.outputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })),
            sha256: meta.sha256,
            ...registry,
          };
        }),
      );
    }
    app.post(
      '/reload-model',
      handle(async (req, reply) => {
        allowRoute(req, '/reload-model');
        const { options: o } = callOptions(req, reply);
        const body = text(req);
        const parsed: unknown = body === undefined || body.trim() === '' ? {} : parseBody(body, options.maxJsonDepth);
        if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed)))
          throw invalidArgument('request body: expected a JSON object such as {"model_name": "production-model"} (or none)');
        const given = (parsed ?? {}) as Record<string, unknown>;
        if (given.model_name !== undefined && given.model_name !== null && typeof given.model_name !== 'string')
          throw invalidArgument('model_name: expected a string (a model name, or empty for every model)');
        const modelName = typeof given.model_name === 'string' ? given.model_name : '';
        const res = ReloadModelResponse.decode(await unary('/quiver.v1.RegistryService/ReloadModel', ReloadModelRequest, { modelName }, o));
        return {
          status: res.failures.length === 0 ? 'reloaded' : 'reloaded with failures',
          served: res.served.map((s) => ({ model_name: s.modelName, version: s.version, aliases: s.aliases })),
          failures: res.failures.map((f) => ({ model_name: f.modelName, version: f.version, message: f.message })),
        };
      }),
    );

    app.get('/openapi.json', async () => openapi[plane]);

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
        const match = (plane === 'registry' ? registryRouter : router).match(req.method, url.pathname);
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

    return app;
  };

  /** A 404's message: on the inference port, a registry path names the registry plane's port. */
  function noRoute(method: string, path: string): string {
    if (!isRegistryPath(path)) return `no route for ${method} ${path}`;
    if (registryOnMain || options.registry === undefined) return `no route for ${method} ${path}`;
    return `no route for ${method} ${path} on this port: the registry REST routes are served on the registry plane's HTTP port ${registryPort ?? options.registry.port} (option registryHttpPort, on registryHost ${options.registry.host})`;
  }

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
