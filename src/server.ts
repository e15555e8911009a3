/**
 * A running Quiver server: the worker pool, the batch scheduler, the loaded models, the
 * inference core and the gRPC transport, started and stopped in the right order.
 */
import { mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';

import { type Options } from './config/options.js';
import { gatewayPortKey, onPort } from './config/port-in-use.js';
import { BatchScheduler } from './core/batcher.js';
import { invalidConfig } from './core/errors.js';
import { InferenceCore } from './core/inference.js';
import { ModelManager } from './core/model-manager.js';
import { InferencePool } from './core/pool.js';
import { answerBadTimeouts, buildGrpcServer, type GrpcServer, serverCredentials } from './grpc/server.js';
import { AccessPolicy, isLoopbackHost } from './auth/policy.js';
import { buildDemoModel, DEMO_MODEL_NAME } from './onnx/demo-model.js';
import { RegistryFollower } from './registry/follower.js';
import { type Gateway, startInProcessGateway } from './gateway.js';
import { ServingMetrics } from './metrics/metrics.js';
import { type MetricsServer, startMetricsServer } from './metrics/server.js';
import { statsResponse } from './metrics/stats.js';
import { createDriftFactory } from './monitoring/drift-factory.js';
import { startTracing, type Tracing, tracingRequested } from './tracing/tracing.js';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Registry, registryOptions } from './registry/registry.js';
import { seedDemo } from './registry/seed.js';

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Time given to the last responses to leave the socket before idle streams are cut. */
const FLUSH_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface ModelSource {
  readonly name: string;
  readonly version: number;
  readonly path: string;
}

/** Lists `<dir>/<name>/<version>/model.onnx`, Triton's model repository layout. */
export async function scanModelRepository(dir: string, log: Logger): Promise<ModelSource[]> {
  const found: ModelSource[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const modelDir = join(dir, name);
    if (!(await stat(modelDir)).isDirectory()) continue;
    if (!NAME.test(name)) {
      log.warn({ dir: modelDir }, `skipping '${name}': model names must match ${NAME.source}`);
      continue;
    }
    for (const version of await readdir(modelDir)) {
      if (!/^[1-9][0-9]{0,8}$/.test(version)) continue;
      const path = join(modelDir, version, 'model.onnx');
      try {
        if ((await stat(path)).isFile()) found.push({ name, version: Number(version), path });
      } catch {
        log.warn({ path }, 'skipping a version directory without model.onnx');
      }
    }
  }
  return found;
}

/** Writes the demo model into the data directory unless it is there already. */
export async function ensureDemoModel(dataDir: string): Promise<ModelSource> {
  const dir = join(dataDir, 'demo', DEMO_MODEL_NAME, '1');
  const path = join(dir, 'model.onnx');
  try {
    await stat(path);
  } catch {
    await mkdir(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, buildDemoModel());
    await rename(tmp, path);
  }
  return { name: DEMO_MODEL_NAME, version: 1, path };
}

export class QuiverServer {
  private stopping: Promise<boolean> | undefined;

  private constructor(
    readonly options: Options,
    readonly core: InferenceCore,
    private readonly pool: InferencePool,
    private readonly grpc: GrpcServer,
    readonly grpcPort: number,
    /** The registry plane's port (undefined without a registry). */
    readonly registryPort: number | undefined,
    private readonly socketDir: string | undefined,
    private readonly log: Logger,
    readonly registry: Registry | undefined,
    readonly follower: RegistryFollower | undefined,
    readonly gateway: Gateway | undefined,
    readonly metrics: ServingMetrics,
    private readonly metricsServer: MetricsServer | undefined,
    private readonly tracing: Tracing | undefined,
  ) {}

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
   * @param extras.spanExporter tests only: trace to this exporter (as if OTEL_* asked for traces).
   */
  static async start(options: Options, log: Logger, extras: { spanExporter?: SpanExporter } = {}): Promise<QuiverServer> {
    const policy = AccessPolicy.fromOptions(options);
    checkExposure(options, policy);
    const tracing =
      extras.spanExporter !== undefined || tracingRequested(process.env)
        ? startTracing(extras.spanExporter === undefined ? {} : { exporter: extras.spanExporter })
        : undefined;
    const pool = new InferencePool(options);
    const scheduler = new BatchScheduler(pool);
    const metrics: ServingMetrics = new ServingMetrics(options.metrics, createDriftFactory(options), {
      // Called on scrape, after `models` exists.
      queueDepth: (): Array<{ model: string; version: number; rows: number }> =>
        models
          .list()
          .flatMap((m) => models.versionsOf(m.name).map((v) => ({ model: v.name, version: v.version, rows: v.batcher.queuedRows }))),
      pool: () => ({ inflight: pool.inflight, capacity: pool.capacity }),
    });
    const models: ModelManager = new ModelManager(
      pool,
      scheduler,
      options,
      log.child({ component: 'models' }),
      metrics.observerFactory,
      (name, ok) => metrics.modelLoad(name, ok),
    );
    const core = new InferenceCore(models, options);
    let registry: Registry | undefined;
    let follower: RegistryFollower | undefined;
    if (options.registry) {
      try {
        await mkdir(options.dataDir, { recursive: true });
        registry = await Registry.open(registryOptions(options));
      } catch (err) {
        await pool.close();
        throw err;
      }
      const f = new RegistryFollower(registry, models, log.child({ component: 'registry' }), options.registryPollMs, (ok) =>
        grpcServer.setRegistryAvailable(ok),
      );
      follower = f;
      core.setOnDemandLoader((name, version) => f.loadOnDemand(name, version));
    }
    const grpcServer = buildGrpcServer(
      core,
      options,
      log,
      (name) => statsResponse(metrics, core.models, name),
      registry === undefined || follower === undefined
        ? undefined
        : {
            registry,
            reload: (name) => (name === '' ? (follower as RegistryFollower).syncAll() : (follower as RegistryFollower).sync(name)),
            // A call found the store down: say so now; the follower's next poll says when it is back.
            onStoreUnavailable: () => grpcServer.setRegistryAvailable(false),
          },
      policy,
    );
    grpcServer.inflight.tracer = tracing?.tracer;
    let port: number;
    let registryPort: number | undefined;
    let socketDir: string | undefined;
    try {
      // Bound before the models load, so health checks see NOT_SERVING meanwhile.
      const credentials = serverCredentials(options);
      port = await onPort(options, 'grpcPort', bind(grpcServer.server, `${hostPart(options.grpcHost)}:${options.grpcPort}`, credentials));
      if (grpcServer.registryServer !== undefined)
        registryPort = await onPort(
          options,
          'registryPort',
          bind(grpcServer.registryServer, `${hostPart(options.registryHost)}:${options.registryPort}`, credentials),
        );
      // A private unix socket per plane (a 0700 directory) for the in-process gateway's
      // streaming calls: no TLS to negotiate with ourselves, and no port to find.
      if (options.gateway) {
        socketDir = await mkdtemp(join(tmpdir(), 'quiver-'));
        await bind(grpcServer.server, `unix:${join(socketDir, 'grpc.sock')}`, grpc.ServerCredentials.createInsecure());
        if (grpcServer.registryServer !== undefined)
          await bind(grpcServer.registryServer, `unix:${join(socketDir, 'registry.sock')}`, grpc.ServerCredentials.createInsecure());
      }
      const sources: ModelSource[] = [...options.models];
      if (options.modelRepository !== '') sources.push(...(await scanModelRepository(options.modelRepository, log)));
      if (options.demo && !sources.some((s) => s.name === DEMO_MODEL_NAME)) {
        if (registry !== undefined) await seedDemo(registry, options.dataDir, log);
        else sources.push(await ensureDemoModel(options.dataDir));
      }
      for (const s of sources) {
        if (registry !== undefined && (await registry.store.getModel(s.name)) !== undefined) {
          throw invalidConfig(`model '${s.name}' is both given as a file and registered in the registry; rename one`);
        }
      }
      for (const s of sources) await models.load(s.name, s.version, s.path);
      const report = follower === undefined ? undefined : await follower.start();
      for (const f of report?.failures ?? [])
        log.error({ model: f.modelName, version: f.version }, `registered version not served: ${f.message}`);
      if (models.size === 0)
        log.warn('no models to serve: register one (quiver registry upload), or pass --model name=path.onnx, --model-repository or --demo');
    } catch (err) {
      follower?.stop();
      grpcServer.server.forceShutdown();
      grpcServer.registryServer?.forceShutdown();
      await pool.close();
      await registry?.close();
      if (socketDir !== undefined) await rm(socketDir, { recursive: true, force: true });
      throw err;
    }
    let gateway: Gateway | undefined;
    let metricsServer: MetricsServer | undefined;
    if (options.gateway || options.metricsServer) {
      try {
        if (options.gateway)
          gateway = await onPort(
            options,
            gatewayPortKey,
            startInProcessGateway(core, grpcServer, socketDir!, options, log, metrics, policy, tracing?.tracer),
          );
        if (options.metricsServer)
          metricsServer = await onPort(options, 'metricsPort', startMetricsServer(metrics, options.metricsHost, options.metricsPort));
      } catch (err) {
        await gateway?.close();
        follower?.stop();
        grpcServer.server.forceShutdown();
        grpcServer.registryServer?.forceShutdown();
        await pool.close();
        await registry?.close();
        if (socketDir !== undefined) await rm(socketDir, { recursive: true, force: true });
        throw err;
      }
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
    return new QuiverServer(
      options,
      core,
      pool,
      grpcServer,
      port,
      registryPort,
      socketDir,
      log,
      registry,
      follower,
      gateway,
      metrics,
      metricsServer,
      tracing,
    );
  }

  /**
   * Graceful stop: health NOT_SERVING, no new calls, in-flight calls finish (up to
   * shutdownGraceMs, then they are cut), queued batches drain, and only then the worker
   * pool closes (a worker must never be terminated inside session.run). Resolves false when
   * it had to give up waiting for inference.
   */
  shutdown(): Promise<boolean> {
    this.stopping ??= (async () => {
      const deadline = Date.now() + this.options.shutdownGraceMs;
      this.log.info({ graceMs: this.options.shutdownGraceMs }, 'shutting down');
      this.grpc.setServing('NOT_SERVING');
      this.follower?.stop();
      // The gateway stops taking requests and answers the ones it has, in parallel with gRPC.
      const gatewayClosed = this.gateway?.close().catch((err: unknown) => this.log.warn({ err }, 'gateway close failed'));
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
        this.grpc.server.forceShutdown();
        this.grpc.registryServer?.forceShutdown();
      }
      await raceDeadline(gatewayClosed ?? Promise.resolve(), deadline);
      // Queued batches drain and the pool closes after its last batch. A batch stuck in
      // onnxruntime past the grace period is not waited for (the process exits anyway).
      const drained = await raceDeadline(
        (async () => {
          await this.core.models.drainAll();
          await this.pool.close();
          await this.registry?.close();
          await this.metricsServer?.close();
          await this.tracing?.shutdown().catch(() => undefined);
          if (this.socketDir !== undefined) await rm(this.socketDir, { recursive: true, force: true });
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

const hostPart = (host: string): string => (host.includes(':') ? `[${host}]` : host);

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) =>
    server.bindAsync(address, credentials, (err, p) => {
      if (err) return reject(err);
      // A garbage grpc-timeout header gets INVALID_ARGUMENT, not grpc-js's INTERNAL.
      answerBadTimeouts(server);
      resolve(p);
    }),
  );
}

/**
 * Refuses configurations that would expose the registry (or a token-less inference plane
 * that asked for tokens) to the network: the lesson of most model-server CVEs.
 */
function checkExposure(options: Options, policy: AccessPolicy): void {
  if (options.authInference && policy.tokens.size === 0)
    throw invalidConfig('option authInference needs API tokens (authTokens or authTokensFile) with the infer scope');
  if (options.registry && !isLoopbackHost(options.registryHost) && policy.tokens.size === 0 && !options.insecureRegistry) {
    throw invalidConfig(
      `refusing to serve the registry on ${options.registryHost} without authentication: set authTokens or authTokensFile, bind registryHost to 127.0.0.1, or set insecureRegistry (not for production)`,
    );
  }
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
