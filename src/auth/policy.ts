/**
 * Who may call what. Two planes:
 * - inference (PredictionService, the OIP, their REST routes): open unless authInference,
 *   then a token with the `infer` scope;
 * - the registry (RegistryService on its own port, its REST routes, /reload-model): with
 *   tokens configured, a token with the method's scope; without tokens, local clients only
 *   (loopback or the server's own unix socket) unless insecureRegistry.
 * Health, reflection and metrics are never behind a token (probes and scrapers need them).
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
};

/** The scope a RegistryService method needs (by its proto name); unknown methods need promote. */
export const registryScopeOf = (method: string): Scope => REGISTRY_METHOD_SCOPES[method] ?? 'registry:promote';

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
