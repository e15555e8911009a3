/**
 * The composition root of a Quiver server: builds its parts from the options (tracing, the
 * worker pool, the batch scheduler, the metrics, the loaded models, the inference core, the
 * registry and its follower, the gRPC planes, the REST gateway, the metrics port), wires them,
 * starts them in order, and stops them in reverse order through one teardown (serving/teardown.ts),
 * after a failed start and on shutdown() alike.
 */
import { mkdir } from 'node:fs/promises';

import * as grpc from '@grpc/grpc-js';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Logger } from 'pino';

import { AccessPolicy } from './auth/policy.js';
import { parseLatencyTargets } from './config/latency-targets.js';
import { checkTokenCount, type Options } from './config/options.js';
import { gatewayPortKey, onPort } from './config/port-in-use.js';
import { BatchScheduler } from './core/batch-scheduler.js';
import { invalidConfig } from './core/errors.js';
import { InferenceCore } from './core/inference.js';
import { ModelManager } from './core/model-manager.js';
import { InferencePool } from './core/pool.js';
import type { FaultInjection } from './core/worker-protocol.js';
import { type Gateway, startInProcessGateway } from './serving/gateway.js';
import { handlerSet } from './handlers/handler-set.js';
import { answerBadTimeouts, buildGrpcServer, type GrpcServer, serverCredentials } from './grpc/server.js';
import { retireConnectionsBeforeResetLimit } from './grpc/reset-guard.js';
import { ServingMetrics } from './metrics/metrics.js';
import { type MetricsServer, startMetricsServer } from './metrics/server.js';
import { statsResponse } from './metrics/stats.js';
import { createDriftFactory } from './monitoring/drift-factory.js';
import { registerFeedbackMetrics } from './metrics/feedback-metrics.js';
import { registerRolloutMetrics } from './metrics/rollout-metrics.js';
import { type FeedbackLoop, startFeedbackLoop } from './serving/feedback-loop.js';
import { RegistryFollower } from './registry/follower.js';
import { Registry, registryOptions } from './registry/registry.js';
import { provideDemo } from './serving/demo.js';
import { type ModelSource, scanModelRepository } from './serving/model-repository.js';
import { Teardown } from './serving/teardown.js';
import { startTracing, type Tracing, tracingRequested } from './tracing/tracing.js';

/** Time given to the last responses to leave the socket before idle streams are cut. */
const FLUSH_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What tests give a server beyond its options (never set in production). */
export interface ServerExtras extends FaultInjection {
  /** Trace to this exporter (as if OTEL_* asked for traces). */
  readonly spanExporter?: SpanExporter;
}

/** A started server's parts, as the composition root hands them to the constructor. */
interface Parts {
  readonly options: Options;
  readonly log: Logger;
  readonly core: InferenceCore;
  readonly grpc: GrpcServer;
  readonly grpcPort: number;
  readonly registryPort: number | undefined;
  readonly registry: Registry | undefined;
  readonly follower: RegistryFollower | undefined;
  readonly gateway: Gateway | undefined;
  readonly metrics: ServingMetrics;
  readonly metricsServer: MetricsServer | undefined;
  readonly teardown: Teardown;
  /** Teardown steps shutdown() takes ahead of the rest (undefined: the part is not there). */
  readonly stop: {
    readonly follower: (() => Promise<void>) | undefined;
    readonly gateway: (() => Promise<void>) | undefined;
    /** Cuts every call still open on the gRPC planes. */
    readonly grpc: () => Promise<void>;
  };
}

export class QuiverServer {
  readonly options: Options;
  readonly core: InferenceCore;
  readonly grpcPort: number;
  /** The registry plane's port (undefined without a registry). */
  readonly registryPort: number | undefined;
  readonly registry: Registry | undefined;
  readonly follower: RegistryFollower | undefined;
  readonly gateway: Gateway | undefined;
  readonly metrics: ServingMetrics;
  private readonly grpc: GrpcServer;
  private readonly log: Logger;
  private readonly metricsServer: MetricsServer | undefined;
  private readonly teardown: Teardown;
  private readonly stop: Parts['stop'];
  private stopping: Promise<boolean> | undefined;

  private constructor(parts: Parts) {
    this.options = parts.options;
    this.core = parts.core;
    this.grpcPort = parts.grpcPort;
    this.registryPort = parts.registryPort;
    this.registry = parts.registry;
    this.follower = parts.follower;
    this.gateway = parts.gateway;
    this.metrics = parts.metrics;
    this.grpc = parts.grpc;
    this.log = parts.log;
    this.metricsServer = parts.metricsServer;
    this.teardown = parts.teardown;
    this.stop = parts.stop;
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  get httpPort(): number | undefined {
    return this.gateway?.port;
  }

  /** The registry plane's REST port (undefined without a registry or a gateway). */
  get registryHttpPort(): number | undefined {
    return this.gateway?.registryPort;
  }

  /**
   * Starts a server; when any part fails to start, the parts already started are stopped
   * (last first) and the error is thrown.
   * @param extras tests only: see ServerExtras.
   */
  static async start(options: Options, log: Logger, extras: ServerExtras = {}): Promise<QuiverServer> {
    const policy = AccessPolicy.fromOptions(options);
    // resolveOptions() refused the option values that give no tokens at all (checkAuth); the
    // number of tokens a tokens file holds is known only now that it has been read.
    checkTokenCount(options, policy.tokens.size);
    const teardown = new Teardown(log);
    try {
      return new QuiverServer(await compose(options, log, extras, policy, teardown));
    } catch (err) {
      await teardown.unwind();
      throw err;
    }
  }

  /**
   * Graceful stop: health NOT_SERVING, no new calls, in-flight calls finish (up to
   * shutdownGraceMs, then they are cut), queued batches drain, and only then the rest stops in
   * reverse order of start (the worker pool after its last batch: a worker must never be
   * terminated inside session.run). Resolves false when it had to give up waiting for inference.
   */
  shutdown(): Promise<boolean> {
    this.stopping ??= (async () => {
      const deadline = Date.now() + this.options.shutdownGraceMs;
      this.log.info({ graceMs: this.options.shutdownGraceMs }, 'shutting down');
      this.grpc.setServing('NOT_SERVING');
      void this.stop.follower?.();
      // The gateway stops taking requests and answers the ones it has, in parallel with gRPC.
      const gatewayClosed = this.stop.gateway?.();
      // No new calls from here on; in-flight ones finish. Long-lived streams with nothing
      // in flight (health watchers, idle PredictStreams) are cut once every request has its
      // answer (plus a moment to flush), instead of holding shutdown for the whole grace.
      const registryServer = this.grpc.registryServer;
      const closed = Promise.all([
        new Promise<void>((resolve) => this.grpc.server.tryShutdown(() => resolve())),
        registryServer === undefined ? undefined : new Promise<void>((resolve) => registryServer.tryShutdown(() => resolve())),
      ]);
      const answered = this.grpc.inflight.idle().then(() => sleep(FLUSH_MS));
      const outcome = await raceDeadline(
        Promise.race([closed.then(() => 'closed' as const), answered.then(() => 'answered' as const)]),
        deadline,
      );
      if (outcome !== 'closed') {
        if (outcome === 'timeout') this.log.warn({ inflight: this.grpc.inflight.size }, 'grace period over: cutting the remaining calls');
        void this.stop.grpc();
      }
      await raceDeadline(gatewayClosed ?? Promise.resolve(), deadline);
      // Queued batches drain, then the rest stops (the pool after its last batch). A batch
      // stuck in onnxruntime past the grace period is not waited for (the process exits anyway).
      const drained = await raceDeadline(
        (async () => {
          await this.core.models.drainAll();
          await this.teardown.unwind();
          return 'done' as const;
        })(),
        Math.max(deadline, Date.now() + FLUSH_MS),
      );
      if (drained === 'timeout') {
        this.log.error('inference still running after the grace period: stopping without waiting for it');
        return false;
      }
      this.log.info('stopped');
      return true;
    })();
    return this.stopping;
  }
}

/**
 * Builds, wires and starts the parts in order, registering each one's stop with `teardown` as
 * soon as it is started; the caller unwinds it when this throws.
 */
async function compose(options: Options, log: Logger, extras: ServerExtras, policy: AccessPolicy, teardown: Teardown): Promise<Parts> {
  const tracing = startTracingIfAsked(extras.spanExporter);
  if (tracing !== undefined) teardown.add('tracing', () => tracing.shutdown().catch(() => undefined));
  const pool = new InferencePool(options, extras);
  teardown.add('worker pool', () => pool.close());
  const scheduler = new BatchScheduler(pool);
  const metrics: ServingMetrics = new ServingMetrics(options.metrics, createDriftFactory(options), {
    // Called on scrape, after `models` exists.
    queueDepth: (): Array<{ model: string; version: number; rows: number }> =>
      models
        .list()
        .flatMap((m) => models.versionsOf(m.name).map((v) => ({ model: v.name, version: v.version, rows: v.batcher.queuedRows }))),
    pool: () => ({ inflight: pool.inflight, capacity: pool.capacity }),
    inflightRefused: () => grpcServer.inflightCap.refused,
  });
  const models: ModelManager = new ModelManager(
    pool,
    scheduler,
    { ...options, latencyTargetByModel: parseLatencyTargets(options.latencyTargets) },
    log.child({ component: 'models' }),
    metrics.observerFactory,
    (name, ok) => metrics.modelLoad(name, ok),
  );
  const core = new InferenceCore(models, options, extras);

  let registry: Registry | undefined;
  let follower: RegistryFollower | undefined;
  let stopFollower: (() => Promise<void>) | undefined;
  let loop: FeedbackLoop | undefined;
  registerFeedbackMetrics(metrics.registry, () => loop?.feedback);
  registerRolloutMetrics(metrics.registry, () => loop);
  if (options.registry) {
    await mkdir(options.dataDir, { recursive: true });
    const opened = await Registry.open(registryOptions(options));
    registry = opened;
    teardown.add('registry', () => opened.close());
    const f = new RegistryFollower(opened, models, log.child({ component: 'registry' }), options.registryPollMs, (ok) =>
      grpcServer.setRegistryAvailable(ok),
    );
    follower = f;
    stopFollower = teardown.add('registry follower', () => f.stop());
    core.setOnDemandLoader((name, version) => f.loadOnDemand(name, version));
    loop = startFeedbackLoop({ registry: opened, follower: f, models, core, metrics }, options, log, teardown);
  }

  const handlers = handlerSet({
    core,
    log,
    stats: (name) => statsResponse(metrics, core.models, name, (n, v) => loop?.feedback.quality.figure(n, v)),
    feedback: loop?.feedback,
    serving: () => grpcServer.isServing(),
    registry:
      registry === undefined || follower === undefined
        ? undefined
        : {
            registry,
            reload: (name) => (name === '' ? (follower as RegistryFollower).syncAll() : (follower as RegistryFollower).sync(name)),
            // A call found the store down: say so now; the follower's next poll says when it is back.
            onStoreUnavailable: () => grpcServer.setRegistryAvailable(false),
          },
  });
  const grpcServer = buildGrpcServer(handlers, options, log, policy);
  const stopGrpc = teardown.add('gRPC servers', () => {
    grpcServer.server.forceShutdown();
    grpcServer.registryServer?.forceShutdown();
  });
  grpcServer.inflight.tracer = tracing?.tracer;

  // Bound before the models load, so health checks see NOT_SERVING meanwhile.
  const credentials = serverCredentials(options);
  const port = await onPort(options, 'grpcPort', bind(grpcServer.server, `${hostPart(options.grpcHost)}:${options.grpcPort}`, credentials));
  let registryPort: number | undefined;
  if (grpcServer.registryServer !== undefined)
    registryPort = await onPort(
      options,
      'registryPort',
      bind(grpcServer.registryServer, `${hostPart(options.registryHost)}:${options.registryPort}`, credentials),
    );

  for (const s of await modelFiles(options, registry, log)) await models.load(s.name, s.version, s.path);
  const report = follower === undefined ? undefined : await follower.start();
  for (const f of report?.failures ?? [])
    log.error({ model: f.modelName, version: f.version }, `registered version not served: ${f.message}`);
  if (models.size === 0)
    log.warn('no models to serve: register one (quiver registry upload), or pass --model name=path.onnx, --model-repository or --demo');

  let gateway: Gateway | undefined;
  let stopGateway: (() => Promise<void>) | undefined;
  if (options.gateway) {
    const started = await onPort(
      options,
      gatewayPortKey,
      startInProcessGateway(handlers, grpcServer, options, log, metrics, policy, tracing?.tracer),
    );
    gateway = started;
    stopGateway = teardown.add('gateway', () => started.close());
  }
  let metricsServer: MetricsServer | undefined;
  if (options.metricsServer) {
    const started = await onPort(options, 'metricsPort', startMetricsServer(metrics, options.metricsHost, options.metricsPort));
    metricsServer = started;
    teardown.add('metrics server', () => started.close());
  }

  grpcServer.setServing('SERVING');
  log.info(
    {
      grpcPort: port,
      registryPort: registryPort ?? null,
      httpPort: gateway?.port ?? null,
      registryHttpPort: gateway?.registryPort ?? null,
      metricsPort: metricsServer?.port ?? null,
      models: models.list().map((m) => `${m.name}@${m.versions.join(',')}`),
    },
    'quiver serving',
  );
  return {
    options,
    log,
    core,
    grpc: grpcServer,
    grpcPort: port,
    registryPort,
    registry,
    follower,
    gateway,
    metrics,
    metricsServer,
    teardown,
    stop: { follower: stopFollower, gateway: stopGateway, grpc: stopGrpc },
  };
}

function startTracingIfAsked(exporter: SpanExporter | undefined): Tracing | undefined {
  if (exporter === undefined && !tracingRequested(process.env)) return undefined;
  return startTracing(exporter === undefined ? {} : { exporter });
}

/**
 * The model files to serve: `--model` options, the model repository, and the demo model (seeded
 * into the registry when there is one, else a file). A file model may not share its name with a
 * registered one.
 */
async function modelFiles(options: Options, registry: Registry | undefined, log: Logger): Promise<ModelSource[]> {
  const sources: ModelSource[] = [...options.models];
  if (options.modelRepository !== '') sources.push(...(await scanModelRepository(options.modelRepository, log)));
  if (options.demo) {
    const demo = await provideDemo(sources, registry, options.dataDir, log);
    if (demo !== undefined) sources.push(demo);
  }
  for (const s of sources) {
    if (registry !== undefined && (await registry.store.getModel(s.name)) !== undefined) {
      throw invalidConfig(`model '${s.name}' is both given as a file and registered in the registry; rename one`);
    }
  }
  return sources;
}

const hostPart = (host: string): string => (host.includes(':') ? `[${host}]` : host);

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, p) => {
      if (err) return reject(err);
      // A garbage grpc-timeout header gets INVALID_ARGUMENT, not grpc-js's INTERNAL.
      answerBadTimeouts(server);
      // A client's burst of cancels retires its connection gracefully, not with nghttp2's GOAWAY.
      retireConnectionsBeforeResetLimit(server);
      resolve(p);
    }),
  );
}

/** Resolves with the promise's value, or 'timeout' at the deadline (epoch ms). */
async function raceDeadline<T>(p: Promise<T>, deadline: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
