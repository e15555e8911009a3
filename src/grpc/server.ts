/** Builds the grpc-js server: quiver.v1 services, grpc.health.v1, reflection, explicit limits. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';

import type { Options } from '../config/options.js';
import type { InferenceCore } from '../core/inference.js';
import type { GetStatsResponse } from '../gen/quiver/v1/prediction.js';
import { PROTO_DIR } from '../paths.js';
import { InflightCalls } from './calls.js';
import { OIP_SERVICE_NAME, oipServiceDefinition, oipServiceHandlers } from './oip-service.js';
import { REGISTRY_SERVICE_NAME, registryServiceDefinition, registryServiceHandlers, type RegistryServiceDeps } from './registry-service.js';
import { PREDICTION_SERVICE_NAME, predictionServiceDefinition, predictionServiceHandlers } from './prediction-service.js';

/** Features or input tensors in one instance; far above any real model's input count. */
const MAX_MAP_ENTRIES = 65536;

/** The services whose health is reported (plus "" for the server as a whole). */
export const HEALTH_SERVICES = ['', PREDICTION_SERVICE_NAME, OIP_SERVICE_NAME] as const;

export function grpcServerOptions(options: Options): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes,
    'grpc.max_send_message_length': options.maxSendMessageBytes,
    'grpc.max_concurrent_streams': options.maxConcurrentStreams,
    'grpc.keepalive_time_ms': options.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs,
    ...(options.maxConnectionAgeMs > 0
      ? {
          'grpc.max_connection_age_ms': options.maxConnectionAgeMs,
          'grpc.max_connection_age_grace_ms': options.maxConnectionAgeGraceMs,
        }
      : {}),
  };
}

/** A method as registered: its definition (codecs) and its handler, for in-process callers (the gateway). */
export interface RegisteredMethod {
  readonly definition: grpc.MethodDefinition<unknown, unknown>;
  readonly handler: grpc.UntypedHandleCall;
}

export interface GrpcServer {
  readonly server: grpc.Server;
  /** Every method added to the server, by gRPC path (/package.Service/Method). */
  readonly methods: ReadonlyMap<string, RegisteredMethod>;
  readonly health: HealthImplementation;
  readonly inflight: InflightCalls;
  setServing(status: ServingStatus): void;
  /** Whether the server says SERVING (models loaded, not draining). */
  isServing(): boolean;
}

export function buildGrpcServer(
  core: InferenceCore,
  options: Options,
  log: Logger,
  stats: (modelName: string) => GetStatsResponse,
  registry?: RegistryServiceDeps,
): GrpcServer {
  const server = new grpc.Server(grpcServerOptions(options));
  // Record every service as it is added, so the in-process gateway can call the same handlers.
  const methods = new Map<string, RegisteredMethod>();
  const addService = server.addService.bind(server);
  server.addService = (service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void => {
    for (const [name, definition] of Object.entries(service)) {
      const handler = implementation[name] ?? implementation[definition.originalName ?? ''];
      if (handler !== undefined) methods.set(definition.path, { definition, handler });
    }
    addService(service, implementation);
  };
  const inflight = new InflightCalls();
  const limits = { maxInstances: options.maxRequestRows, maxMapEntries: MAX_MAP_ENTRIES };
  server.addService(
    predictionServiceDefinition(limits),
    predictionServiceHandlers(core, log.child({ component: 'grpc' }), inflight, stats),
  );
  let serving = false;
  server.addService(
    oipServiceDefinition(),
    oipServiceHandlers(core, log.child({ component: 'oip-grpc' }), inflight, () => serving),
  );

  const services: string[] = [...HEALTH_SERVICES];
  if (registry !== undefined) {
    server.addService(registryServiceDefinition(), registryServiceHandlers(registry, log.child({ component: 'registry-grpc' }), inflight));
    services.push(REGISTRY_SERVICE_NAME);
  }
  const health = new HealthImplementation(Object.fromEntries(services.map((s) => [s, 'NOT_SERVING' as const])));
  health.addToServer(server);

  const definitions = protoLoader.loadSync(['quiver/v1/prediction.proto', 'quiver/v1/registry.proto', 'inference/grpc_predict_v2.proto'], {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  new ReflectionService(definitions).addToServer(server);

  return {
    server,
    methods,
    health,
    inflight,
    isServing: () => serving,
    setServing(status) {
      serving = status === 'SERVING';
      for (const s of services) health.setStatus(s, status);
    },
  };
}
