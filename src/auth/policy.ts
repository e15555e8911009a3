/**
 * Who may call what. Two planes:
 * - inference (PredictionService, the OIP, their REST routes): open unless authInference,
 *   then a token with the `infer` scope;
 * - the registry (RegistryService on its own port, its REST routes, /reload-model): with
 *   tokens configured, a token with the method's scope; without tokens, local clients only
 *   (loopback or the server's own unix socket) unless insecureRegistry.
 * Health, reflection and metrics are never behind a token (probes and scrapers need them):
 * grpc.health.v1, the OIP's ServerLive and ServerReady (gRPC) and /v2/health/live and
 * /v2/health/ready (REST), /health and /metrics. Model listing, metadata, readiness of a model
 * and inference follow authInference on both transports. scopeOfMethod() and scopeOfRoute()
 * are that one rule, for gRPC and for REST.
 */
import { permissionDenied, unauthenticated } from '../core/errors.js';
import { type Principal, type Scope, TokenSet } from './tokens.js';

export const REGISTRY_METHOD_SCOPES: Readonly<Record<string, Scope>> = {
  GetModel: 'registry:read',
  ListRegisteredModels: 'registry:read',
  GetVersion: 'registry:read',
  ListVersions: 'registry:read',
  DownloadArtifact: 'registry:read',
  GetAuditLog: 'registry:read',
  ListEvaluations: 'registry:read',
  GetRollout: 'registry:read',
  ListRollouts: 'registry:read',
  CreateModel: 'registry:write',
  UpdateModel: 'registry:write',
  CreateVersion: 'registry:write',
  UpdateVersion: 'registry:write',
  DeleteVersion: 'registry:write',
  // What is served changes: promotion rights.
  SetAlias: 'registry:promote',
  DeleteAlias: 'registry:promote',
  TransitionStage: 'registry:promote',
  ReloadModel: 'registry:promote',
  StartRollout: 'registry:promote',
  PromoteRollout: 'registry:promote',
  AbortRollout: 'registry:promote',
};

/** The scope a RegistryService method needs (by its proto name); unknown methods need promote. */
export const registryScopeOf = (method: string): Scope => REGISTRY_METHOD_SCOPES[method] ?? 'registry:promote';

export const REGISTRY_SERVICE = 'quiver.v1.RegistryService';
export const PREDICTION_SERVICE = 'quiver.v1.PredictionService';
export const OIP_SERVICE = 'inference.GRPCInferenceService';

/** OIP methods that are probes: open on both transports, like grpc.health.v1 (Triton's and KServe's probes send no token). */
const OIP_PROBES: ReadonlySet<string> = new Set(['ServerLive', 'ServerReady']);

/**
 * The one rule for a gRPC method, by service and method name: the scope it needs, or
 * undefined for an open method (health, reflection, the OIP's liveness and readiness).
 */
export function scopeOfMethod(service: string, method: string): Scope | undefined {
  if (service === REGISTRY_SERVICE) return registryScopeOf(method);
  if (service === OIP_SERVICE) return OIP_PROBES.has(method) ? undefined : 'infer';
  if (service === PREDICTION_SERVICE) return 'infer';
  return undefined;
}

/** The rule for an RPC by its gRPC path (`/package.Service/Method`); undefined: open (health, reflection, the OIP's probes). */
export function scopeOfRpc(path: string): Scope | undefined {
  const [, service, method] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
  return scopeOfMethod(service ?? '', method ?? '');
}

/** The OIP gRPC method an OIP REST path stands for (`/v2/...`), undefined when it is none. */
export function oipMethodOfPath(path: string): string | undefined {
  if (path === '/v2' || path === '/v2/') return 'ServerMetadata';
  if (path === '/v2/health/live') return 'ServerLive';
  if (path === '/v2/health/ready') return 'ServerReady';
  const m = /^\/v2\/models\/[^/]+(?:\/versions\/[^/]+)?(\/ready|\/infer)?$/.exec(path);
  if (m === null) return undefined;
  return m[1] === '/ready' ? 'ModelReady' : m[1] === '/infer' ? 'ModelInfer' : 'ModelMetadata';
}

/**
 * The same rule for the REST routes that are not an RPC's google.api.http binding (those
 * follow their RPC's scopeOfMethod): the blueprint's routes and the OIP's `/v2` routes.
 * Undefined: open.
 */
export function scopeOfRoute(path: string): Scope | undefined {
  switch (path) {
    case '/health':
    case '/metrics':
    case '/openapi.json':
      return undefined;
    case '/reload-model':
      return 'registry:promote';
    case '/predict':
    case '/predict/batch':
    case '/model-info':
    case '/stats':
    case '/feedback':
      return 'infer';
  }
  if (path === '/v2' || path.startsWith('/v2/')) {
    const method = oipMethodOfPath(path);
    // An unknown /v2 path is refused like inference (then answered 404 when allowed).
    return method === undefined ? 'infer' : scopeOfMethod(OIP_SERVICE, method);
  }
  return 'infer';
}

/**
 * Whether a peer address (grpc-js getPeer(), or an HTTP socket's remoteAddress) is this host:
 * 127.0.0.0/8, ::1, IPv4-mapped loopback, or a unix socket.
 */
export function isLocalPeer(peer: string | undefined): boolean {
  if (peer === undefined || peer === '' || peer === 'unknown') return false;
  if (peer.startsWith('unix:')) return true;
  let host = peer.replace(/^ipv[46]:/, '');
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracket !== null) host = bracket[1]!;
  else if (/^[0-9.]+:\d+$/.test(host)) host = host.slice(0, host.lastIndexOf(':'));
  host = host.replace(/^::ffff:/i, '');
  return host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host.startsWith('unix:');
}

/** The token in an `authorization: Bearer <token>` header or metadata value. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m === null ? undefined : m[1];
}

export interface AccessOptions {
  readonly authTokens: string;
  readonly authTokensFile: string;
  readonly authInference: boolean;
  readonly insecureRegistry: boolean;
}

export class AccessPolicy {
  constructor(
    readonly tokens: TokenSet,
    readonly authInference: boolean,
    readonly insecureRegistry: boolean,
  ) {}

  static fromOptions(options: AccessOptions): AccessPolicy {
    return new AccessPolicy(TokenSet.fromOptions(options), options.authInference, options.insecureRegistry);
  }

  /** Open: no tokens, no restrictions beyond "registry from local clients". */
  static readonly OPEN = new AccessPolicy(TokenSet.EMPTY, false, false);

  /**
   * Checks one call. Returns the caller's principal when a valid token was presented (its
   * name becomes the audit actor), undefined for an allowed anonymous call; throws
   * UNAUTHENTICATED (no or unknown token) or PERMISSION_DENIED (scope or locality).
   * `what` names the method or route in messages.
   */
  authorize(scope: Scope, authorization: string | undefined, peerIsLocal: boolean, what: string): Principal | undefined {
    const needsToken = scope === 'infer' ? this.authInference : this.tokens.size > 0;
    const token = bearerToken(authorization);
    if (!needsToken) {
      if (scope !== 'infer' && !this.insecureRegistry && !peerIsLocal) {
        throw permissionDenied(
          `${what}: the registry accepts only local clients when no API tokens are configured (set authTokens or authTokensFile on the server)`,
        );
      }
      // A token is not needed; a valid one still names the actor.
      return token === undefined ? undefined : this.tokens.authenticate(token);
    }
    if (token === undefined) {
      throw unauthenticated(
        authorization === undefined
          ? `${what} needs an API token: send the header 'authorization: Bearer <token>'`
          : `${what}: the authorization header must be 'Bearer <token>'`,
      );
    }
    const principal = this.tokens.authenticate(token);
    if (principal === undefined) throw unauthenticated(`${what}: the API token is not valid`);
    if (!principal.scopes.has(scope))
      throw permissionDenied(`${what} needs the ${scope} scope, which token '${principal.name}' does not have`);
    return principal;
  }
}
