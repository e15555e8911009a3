/**
 * Builds the grpc-js servers: the inference plane (PredictionService, the OIP) and the registry
 * plane (RegistryService, on its own port), each with grpc.health.v1 and reflection, explicit
 * limits, and the access checks of src/auth/policy.ts on every quiver and OIP method.
 */
import { readFileSync } from 'node:fs';

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Logger } from 'pino';

import { AccessPolicy, isLocalPeer, scopeOfRpc } from '../auth/policy.js';
import type { Scope } from '../auth/tokens.js';
import type { Options } from '../config/options.js';
import { ERROR_CODE_KEY, invalidConfig } from '../core/errors.js';
import { InflightCap } from '../core/inflight-cap.js';
import {
  decodeLimits,
  OIP_SERVICE_NAME,
  oipServiceDefinition,
  PREDICTION_SERVICE_NAME,
  predictionServiceDefinition,
  REGISTRY_SERVICE_NAME,
  registryServiceDefinition,
} from '../contract/services.js';
import type { HandlerSet } from '../handlers/handler-set.js';
import { PROTO_DIR } from '../paths.js';
import { InflightCalls, setPrincipal, toServiceError } from './calls.js';
import { inflightInterceptor } from './inflight-interceptor.js';
import { oipService } from './oip.js';
import { predictionService } from './prediction.js';
import { registryService } from './registry.js';

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

export interface GrpcServer {
  /** The inference plane: PredictionService, the OIP, health, reflection. */
  readonly server: grpc.Server;
  /** The registry plane (its own port): RegistryService, health, reflection; absent without a registry. */
  readonly registryServer: grpc.Server | undefined;
  readonly health: HealthImplementation;
  readonly inflight: InflightCalls;
  /** The server-wide cap on predict calls at once (maxInflight), shared with the REST gateway. */
  readonly inflightCap: InflightCap;
  setServing(status: ServingStatus): void;
  /**
   * Whether the registry's store answers: while it does not, quiver.v1.RegistryService (and the
   * registry port as a whole) report NOT_SERVING; inference is unaffected.
   */
  setRegistryAvailable(available: boolean): void;
  /** Whether the server says SERVING (models loaded, not draining). */
  isServing(): boolean;
}

/**
 * Wraps a handler with the access check for its plane. A refused call gets UNAUTHENTICATED or
 * PERMISSION_DENIED before the handler runs; an authenticated one carries its principal in
 * the call context (the audit trail's actor; a client cannot claim another).
 */
function guarded(
  definition: grpc.MethodDefinition<unknown, unknown>,
  handler: grpc.UntypedHandleCall,
  scope: Scope,
  policy: AccessPolicy,
  what: string,
): grpc.UntypedHandleCall {
  return ((call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
    try {
      const auth = call.metadata.get('authorization')[0];
      const principal = policy.authorize(scope, auth === undefined ? undefined : String(auth), isLocalPeer(call.getPeer()), what);
      if (principal !== undefined) setPrincipal(call, principal);
    } catch (err) {
      // A refusal has no cause to log.
      const status = toServiceError(err, undefined, what, call.metadata);
      if (definition.responseStream) (call as unknown as NodeJS.EventEmitter).emit('error', status);
      else callback!(status, null);
      return;
    }
    (handler as (c: unknown, cb?: unknown) => void)(call, callback);
  }) as grpc.UntypedHandleCall;
}

/** A grpc-js server whose services get the access check of their plane on every method. */
function checkedServer(options: Options, policy: AccessPolicy, interceptors: grpc.ServerInterceptor[] = []): grpc.Server {
  const server = new grpc.Server({ ...grpcServerOptions(options), interceptors });
  const addService = server.addService.bind(server);
  server.addService = (service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void => {
    const checked: grpc.UntypedServiceImplementation = {};
    for (const [name, definition] of Object.entries(service)) {
      const key = implementation[name] !== undefined ? name : (definition.originalName ?? name);
      const handler = implementation[key];
      if (handler === undefined) continue;
      const scope = scopeOfRpc(definition.path);
      checked[key] = scope === undefined ? handler : guarded(definition, handler, scope, policy, definition.path.slice(1));
    }
    addService(service, checked);
  };
  return server;
}

/** The gRPC adapter over the one handler set (src/handlers/handler-set.ts). */
export function buildGrpcServer(handlers: HandlerSet, options: Options, log: Logger, policy: AccessPolicy = AccessPolicy.OPEN): GrpcServer {
  const inflightCap = new InflightCap(options.maxInflight, options.retryPushbackMs);
  const server = checkedServer(options, policy, [inflightInterceptor(inflightCap)]);
  const inflight = new InflightCalls();
  const limits = decodeLimits(options.maxRequestRows);
  server.addService(
    predictionServiceDefinition(limits),
    predictionService(handlers.prediction, { log: log.child({ component: 'grpc' }), inflight }, limits),
  );
  server.addService(oipServiceDefinition(), oipService(handlers.oip, { log: log.child({ component: 'oip-grpc' }), inflight }));
  const services: string[] = [...HEALTH_SERVICES];
  // The inference port answers for the registry's health too: one place to ask about each service.
  if (handlers.registry !== undefined) services.push(REGISTRY_SERVICE_NAME);
  const health = new HealthImplementation(Object.fromEntries(services.map((s) => [s, 'NOT_SERVING' as const])));
  health.addToServer(server);
  new ReflectionService(loadDefinitions(['quiver/v1/prediction.proto', 'inference/grpc_predict_v2.proto'])).addToServer(server);

  let registryServer: grpc.Server | undefined;
  let registryHealth: HealthImplementation | undefined;
  if (handlers.registry !== undefined) {
    registryServer = checkedServer(options, policy);
    registryServer.addService(
      registryServiceDefinition(),
      registryService(handlers.registry, { log: log.child({ component: 'registry-grpc' }), inflight }),
    );
    registryHealth = new HealthImplementation({ '': 'NOT_SERVING', [REGISTRY_SERVICE_NAME]: 'NOT_SERVING' });
    registryHealth.addToServer(registryServer);
    new ReflectionService(loadDefinitions(['quiver/v1/registry.proto'])).addToServer(registryServer);
  }

  let serving = false;
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
    health,
    inflight,
    inflightCap,
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

/** A grpc-timeout value as the gRPC spec writes it: 1 to 8 digits and a unit. */
const TIMEOUT_VALUE = /^\s*\d{1,8}\s*[HMSmun]\s*$/;
const timeoutChecked = new WeakSet<object>();

/**
 * Answers a call whose `grpc-timeout` header is not a timeout with INVALID_ARGUMENT (the
 * client's fault) instead of grpc-js's INTERNAL. grpc-js parses the header itself, before any
 * interceptor or handler runs, and offers no hook for it; so each HTTP/2 server it has bound
 * gets its 'stream' listeners wrapped: a bad header is answered here (trailers only) and the
 * stream never reaches grpc-js. Call after every bindAsync (idempotent). Relies on grpc-js's
 * `http2Servers` map (1.10 to 1.14); returns false when that is not there (then grpc-js answers INTERNAL).
 */
export function answerBadTimeouts(server: grpc.Server): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return false;
  for (const h2 of servers.keys() as IterableIterator<import('node:http2').Http2Server>) {
    if (timeoutChecked.has(h2)) continue;
    timeoutChecked.add(h2);
    const listeners = h2.listeners('stream') as Array<(...args: unknown[]) => void>;
    h2.removeAllListeners('stream');
    h2.on(
      'stream',
      (stream: import('node:http2').ServerHttp2Stream, headers: import('node:http2').IncomingHttpHeaders, ...rest: unknown[]) => {
        const timeout = headers['grpc-timeout'];
        if (timeout !== undefined && !TIMEOUT_VALUE.test(String(timeout))) {
          const message = `grpc-timeout: ${JSON.stringify(String(timeout).slice(0, 64))} is not a timeout; expected 1 to 8 digits and a unit (H, M, S, m, u, n), such as 500m or 2S`;
          try {
            stream.respond(
              {
                ':status': 200,
                'content-type': 'application/grpc+proto',
                'grpc-status': String(grpc.status.INVALID_ARGUMENT),
                'grpc-message': percentEncoded(message),
                [ERROR_CODE_KEY]: 'QUIVER_ERR_INVALID_ARGUMENT',
              },
              { endStream: true },
            );
          } catch {
            stream.destroy();
          }
          return;
        }
        for (const l of listeners) l.call(h2, stream, headers, ...rest);
      },
    );
  }
  return true;
}

/** grpc-message's encoding: printable ASCII but '%' as it is, everything else percent-encoded UTF-8. */
function percentEncoded(text: string): string {
  return text.replace(/[^\x20-\x24\x26-\x7e]+/gu, (c) => encodeURIComponent(c));
}
