/** Builds the grpc-js server: quiver.v1 services, grpc.health.v1, reflection, explicit limits. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';

import type { Options } from '../config/options.js';
import type { InferenceCore } from '../core/inference.js';
import { PROTO_DIR } from '../paths.js';
import { InflightCalls } from './calls.js';
import { REGISTRY_SERVICE_NAME, registryServiceDefinition, registryServiceHandlers, type RegistryServiceDeps } from './registry-service.js';
import { PREDICTION_SERVICE_NAME, predictionServiceDefinition, predictionServiceHandlers } from './prediction-service.js';

/** Features or input tensors in one instance; far above any real model's input count. */
const MAX_MAP_ENTRIES = 65536;

/** The services whose health is reported (plus "" for the server as a whole). */
export const HEALTH_SERVICES = ['', PREDICTION_SERVICE_NAME] as const;

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

export interface GrpcServer {
  readonly server: grpc.Server;
  readonly health: HealthImplementation;
  readonly inflight: InflightCalls;
  setServing(status: ServingStatus): void;
}

export function buildGrpcServer(core: InferenceCore, options: Options, log: Logger, registry?: RegistryServiceDeps): GrpcServer {
  const server = new grpc.Server(grpcServerOptions(options));
  const inflight = new InflightCalls();
  const limits = { maxInstances: options.maxRequestRows, maxMapEntries: MAX_MAP_ENTRIES };
  server.addService(predictionServiceDefinition(limits), predictionServiceHandlers(core, log.child({ component: 'grpc' }), inflight));

  const services: string[] = [...HEALTH_SERVICES];
  if (registry !== undefined) {
    server.addService(registryServiceDefinition(), registryServiceHandlers(registry, log.child({ component: 'registry-grpc' }), inflight));
    services.push(REGISTRY_SERVICE_NAME);
  }
  const health = new HealthImplementation(Object.fromEntries(services.map((s) => [s, 'NOT_SERVING' as const])));
  health.addToServer(server);

  const definitions = protoLoader.loadSync(['quiver/v1/prediction.proto', 'quiver/v1/registry.proto'], {
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
    health,
    inflight,
    setServing(status) {
      for (const s of services) health.setStatus(s, status);
    },
  };
}
