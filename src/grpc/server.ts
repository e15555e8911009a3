/**
 * Builds the grpc-js servers: the inference plane (PredictionService, the OIP) and the registry
 * plane (RegistryService, on its own port), each with grpc.health.v1 and reflection, explicit
 * limits, and the access checks of src/auth/policy.ts on every quiver and OIP method.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';

import { AccessPolicy, isLocalPeer, registryScopeOf } from '../auth/policy.js';
import type { Scope } from '../auth/tokens.js';
import type { Options } from '../config/options.js';
import { invalidConfig } from '../core/errors.js';
import type { InferenceCore } from '../core/inference.js';
import type { GetStatsResponse } from '../gen/quiver/v1/prediction.js';
import { PROTO_DIR } from '../paths.js';
import { InflightCalls, toServiceError } from './calls.js';
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
  /** The inference plane: PredictionService, the OIP, health, reflection. */
  readonly server: grpc.Server;
  /** The registry plane (its own port): RegistryService, health, reflection; absent without a registry. */
  readonly registryServer: grpc.Server | undefined;
  /** Every method added to either server, by gRPC path (/package.Service/Method), access checks included. */
  readonly methods: ReadonlyMap<string, RegisteredMethod>;
  readonly health: HealthImplementation;
  readonly inflight: InflightCalls;
  /**
   * The in-process gateway's key: calls carrying it in `quiver-gateway-key` are checked
   * against the HTTP client's address it forwards in `quiver-gateway-peer`.
   */
  readonly gatewayKey: string;
  setServing(status: ServingStatus): void;
  /**
   * Whether the registry's store answers: while it does not, quiver.v1.RegistryService (and the
   * registry port as a whole) report NOT_SERVING; inference is unaffected.
   */
  setRegistryAvailable(available: boolean): void;
  /** Whether the server says SERVING (models loaded, not draining). */
  isServing(): boolean;
}

const GATEWAY_KEY = 'quiver-gateway-key';
const GATEWAY_PEER = 'quiver-gateway-peer';

/**
 * Wraps a handler with the access check for its plane. A refused call gets UNAUTHENTICATED or
 * PERMISSION_DENIED before the handler runs; an authenticated one carries the token's name as
 * `quiver-actor` (the audit trail's actor; a client cannot claim another).
 */
function guarded(
  definition: grpc.MethodDefinition<unknown, unknown>,
  handler: grpc.UntypedHandleCall,
  scope: Scope,
  policy: AccessPolicy,
  gatewayKey: Buffer,
  what: string,
): grpc.UntypedHandleCall {
  return ((call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
    const md = call.metadata;
    const key = md.get(GATEWAY_KEY)[0];
    const forwardedPeer = key !== undefined && sameSecret(String(key), gatewayKey) ? String(md.get(GATEWAY_PEER)[0] ?? '') : undefined;
    md.remove(GATEWAY_KEY);
    md.remove(GATEWAY_PEER);
    try {
      const auth = md.get('authorization')[0];
      const principal = policy.authorize(
        scope,
        auth === undefined ? undefined : String(auth),
        isLocalPeer(forwardedPeer ?? call.getPeer()),
        what,
      );
      if (principal !== undefined) md.set('quiver-actor', principal.name);
    } catch (err) {
      // A refusal has no cause to log.
      const status = toServiceError(err, undefined, what, md);
      if (definition.responseStream) (call as unknown as NodeJS.EventEmitter).emit('error', status);
      else callback!(status, null);
      return;
    }
    (handler as (c: unknown, cb?: unknown) => void)(call, callback);
  }) as grpc.UntypedHandleCall;
}

function sameSecret(presented: string, key: Buffer): boolean {
  const b = Buffer.from(presented);
  return b.length === key.length && timingSafeEqual(b, key);
}

/** Which plane's rule a service's methods follow (undefined: open, as health and reflection). */
function scopeOf(path: string): Scope | undefined {
  const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
  if (service === REGISTRY_SERVICE_NAME) return registryScopeOf(method ?? '');
  if (service === PREDICTION_SERVICE_NAME || service === OIP_SERVICE_NAME) return 'infer';
  return undefined;
}

export function buildGrpcServer(
  core: InferenceCore,
  options: Options,
  log: Logger,
  stats: (modelName: string) => GetStatsResponse,
  registry?: RegistryServiceDeps,
  policy: AccessPolicy = AccessPolicy.OPEN,
): GrpcServer {
  const gatewayKey = randomBytes(32).toString('hex');
  const gatewayKeyBytes = Buffer.from(gatewayKey);
  // Record every service as it is added (with its access check), so the in-process gateway
  // calls the same, checked, handlers.
  const methods = new Map<string, RegisteredMethod>();
  const make = (): grpc.Server => {
    const server = new grpc.Server(grpcServerOptions(options));
    const addService = server.addService.bind(server);
    server.addService = (service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void => {
      const checked: grpc.UntypedServiceImplementation = {};
      for (const [name, definition] of Object.entries(service)) {
        const key = implementation[name] !== undefined ? name : (definition.originalName ?? name);
        const handler = implementation[key];
        if (handler === undefined) continue;
        const scope = scopeOf(definition.path);
        const h = scope === undefined ? handler : guarded(definition, handler, scope, policy, gatewayKeyBytes, definition.path.slice(1));
        checked[key] = h;
        methods.set(definition.path, { definition, handler: h });
      }
      addService(service, checked);
    };
    return server;
  };
  const server = make();
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
  // The inference port answers for the registry's health too: one place to ask about each service.
  if (registry !== undefined) services.push(REGISTRY_SERVICE_NAME);
  const health = new HealthImplementation(Object.fromEntries(services.map((s) => [s, 'NOT_SERVING' as const])));
  health.addToServer(server);
  new ReflectionService(loadDefinitions(['quiver/v1/prediction.proto', 'inference/grpc_predict_v2.proto'])).addToServer(server);

  let registryServer: grpc.Server | undefined;
  let registryHealth: HealthImplementation | undefined;
  if (registry !== undefined) {
    registryServer = make();
    registryServer.addService(
      registryServiceDefinition(),
      registryServiceHandlers(registry, log.child({ component: 'registry-grpc' }), inflight),
    );
    registryHealth = new HealthImplementation({ '': 'NOT_SERVING', [REGISTRY_SERVICE_NAME]: 'NOT_SERVING' });
    registryHealth.addToServer(registryServer);
    new ReflectionService(loadDefinitions(['quiver/v1/registry.proto'])).addToServer(registryServer);
  }

  let registryAvailable = true;
  const applyHealth = (): void => {
    const status: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
    const registryStatus: ServingStatus = serving && registryAvailable ? 'SERVING' : 'NOT_SERVING';
    for (const s of services) health.setStatus(s, s === REGISTRY_SERVICE_NAME ? registryStatus : status);
    registryHealth?.setStatus('', registryStatus);
    registryHealth?.setStatus(REGISTRY_SERVICE_NAME, registryStatus);
  };
  return {
    server,
    registryServer,
    methods,
    health,
    inflight,
    gatewayKey,
    isServing: () => serving,
    setServing(status) {
      serving = status === 'SERVING';
      applyHealth();
    },
    setRegistryAvailable(available) {
      if (available === registryAvailable) return;
      registryAvailable = available;
      log.warn({ available }, available ? 'the registry store answers again' : 'the registry store is unavailable: serving what is loaded');
      applyHealth();
    },
  };
}

function loadDefinitions(files: string[]): protoLoader.PackageDefinition {
  return protoLoader.loadSync(files, {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}

/** Server credentials from the TLS options: insecure, TLS, or mTLS (client certificates required). */
export function serverCredentials(options: Pick<Options, 'tlsCert' | 'tlsKey' | 'tlsClientCa' | 'tlsClientAuth'>): grpc.ServerCredentials {
  if (options.tlsCert === '') return grpc.ServerCredentials.createInsecure();
  const read = (key: 'tlsCert' | 'tlsKey' | 'tlsClientCa'): Buffer => {
    try {
      return readFileSync(options[key]);
    } catch (err) {
      throw invalidConfig(`option ${key}: cannot read ${options[key]}: ${(err as Error).message}`);
    }
  };
  return grpc.ServerCredentials.createSsl(
    options.tlsClientAuth ? read('tlsClientCa') : null,
    [{ private_key: read('tlsKey'), cert_chain: read('tlsCert') }],
    options.tlsClientAuth,
  );
}
