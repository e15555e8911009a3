/** Who may call: API tokens and their scopes, and TLS (mTLS) on every listener. */
import type { OptionDef } from '../option-schema.js';

export const ACCESS_OPTIONS: readonly OptionDef[] = [
  {
    key: 'authTokens',
    kind: 'string',
    default: () => '',
    doc: 'API tokens, `name scopes token` entries separated by `;` (scopes: infer, registry:read, registry:write, registry:promote, comma-separated; the token may be given as sha256:<hex>); prefer authTokensFile or the environment to a flag',
  },
  {
    key: 'authTokensFile',
    kind: 'path',
    default: () => '',
    doc: 'a file of API tokens, one `name scopes token` entry per line (# comments), e.g. a mounted Secret',
  },
  {
    key: 'authInference',
    kind: 'bool',
    default: () => false,
    doc: "require a token with the infer scope for inference, model listing and metadata (gRPC and REST alike); health (grpc.health.v1, /health), the OIP's liveness and readiness (ServerLive, ServerReady, /v2/health/*), reflection and metrics stay open",
  },
  {
    key: 'insecureRegistry',
    kind: 'bool',
    default: () => false,
    doc: 'allow the registry plane on a non-loopback address, and registry REST routes from non-loopback clients, without tokens (not for production)',
  },
  { key: 'tlsCert', kind: 'path', default: () => '', doc: 'PEM certificate chain: serve gRPC (both planes) and REST over TLS' },
  { key: 'tlsKey', kind: 'path', default: () => '', doc: 'PEM private key for tlsCert' },
  { key: 'tlsClientCa', kind: 'path', default: () => '', doc: 'PEM CA bundle that client certificates are verified against (mTLS)' },
  {
    key: 'tlsClientAuth',
    kind: 'bool',
    default: () => false,
    doc: 'require a client certificate signed by tlsClientCa on every TLS connection (mTLS)',
  },
];
