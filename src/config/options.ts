/**
 * The one options schema. Every option has a key (config file, camelCase), an environment
 * variable (QUIVER_*), a CLI flag, a default with its unit, and a validator whose message
 * names the option. Sources are merged defaults < config file < environment < CLI flags,
 * validated once at start-up and frozen.
 */
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';

import { invalidConfig } from '../core/errors.js';
import { isModelName, MODEL_NAME_PATTERN } from '../core/model-name.js';
import { isLoopbackHost } from '../auth/policy.js';
import { parseS3Url } from '../registry/s3-url.js';

export interface ModelSpec {
  readonly name: string;
  readonly version: number;
  readonly path: string;
}

export interface Options {
  readonly grpcHost: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly models: readonly ModelSpec[];
  readonly modelRepository: string;
  readonly demo: boolean;
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly tasksPerWorker: number;
  readonly inlineMaxUs: number;
  readonly maxBatchRows: number;
  readonly maxQueueDelayUs: number;
  readonly maxQueueRows: number;
  readonly maxQueueWaitMs: number;
  readonly queueTargetMs: number;
  readonly maxRequestRows: number;
  readonly retryPushbackMs: number;
  readonly rejectNonFinite: boolean;
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  readonly maxConcurrentStreams: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  readonly registryHost: string;
  readonly registryPort: number;
  readonly registryHttpPort: number;
  readonly registryRestOnHttpPort: boolean;
  readonly authTokens: string;
  readonly authTokensFile: string;
  readonly authInference: boolean;
  readonly insecureRegistry: boolean;
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsClientCa: string;
  readonly tlsClientAuth: boolean;
  readonly trialLoad: boolean;
  readonly trialTimeoutMs: number;
  readonly trialMaxMemoryMb: number;
  readonly gateway: boolean;
  readonly driftWindow: number;
  readonly driftMinSamples: number;
  readonly driftPsiThreshold: number;
  readonly driftKsAlpha: number;
  readonly metrics: boolean;
  readonly metricsServer: boolean;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly httpHost: string;
  readonly httpRequestTimeoutMs: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  readonly maxHttpBodyBytes: number;
  readonly maxJsonDepth: number;
  readonly defaultModel: string;
  readonly registry: boolean;
  readonly registryUrl: string;
  readonly artifactUrl: string;
  readonly s3Endpoint: string;
  readonly s3ForcePathStyle: boolean;
  readonly registryPollMs: number;
  readonly maxUploadBytes: number;
}

/** `path`: a file or directory, made absolute when options are resolved (see absolute()). */
type Kind = 'string' | 'path' | 'port' | 'int' | 'number' | 'bool' | 'enum' | 'models';

export interface OptionDef {
  readonly key: keyof Options;
  readonly kind: Kind;
  /** Lower bound for `int` options. */
  readonly min?: number;
  /** Upper bound for `int` options. */
  readonly max?: number;
  readonly values?: readonly string[];
  readonly default: (partial: Partial<Record<keyof Options, unknown>>) => unknown;
  readonly unit?: string;
  readonly doc: string;
}

const cores = (): number => availableParallelism();
const MiB = 1024 * 1024;

/** The schema, in the order the README's configuration table shows it. */
export const OPTION_DEFS: readonly OptionDef[] = [
  { key: 'grpcHost', kind: 'string', default: () => '0.0.0.0', doc: 'address the gRPC server binds' },
  { key: 'grpcPort', kind: 'port', default: () => 50051, doc: 'gRPC port (0 picks a free port)' },
  { key: 'httpPort', kind: 'port', default: () => 8080, doc: "REST gateway port, the inference plane's (0 picks a free port)" },
  {
    key: 'dataDir',
    kind: 'path',
    default: () => './var',
    doc: 'data directory: the embedded registry (SQLite and artifacts), the demo data, verified copies of loaded artifacts',
  },
  {
    key: 'models',
    kind: 'models',
    default: () => [],
    doc: 'ONNX files to serve, `name=path.onnx` or `name:version=path.onnx`, comma-separated in the environment, repeatable as a flag',
  },
  {
    key: 'modelRepository',
    kind: 'path',
    default: () => '',
    doc: 'a Triton-style model directory `<dir>/<name>/<version>/model.onnx`, all versions served',
  },
  {
    key: 'demo',
    kind: 'bool',
    default: () => false,
    doc: 'write the demo model into the data dir if absent and serve it as `production-model`',
  },
  {
    key: 'workers',
    kind: 'int',
    min: 1,
    max: 256,
    default: () => Math.max(1, cores() - 1),
    doc: 'inference worker threads (default: cores - 1, the main thread keeps one core for gRPC)',
  },
  {
    key: 'intraOpThreads',
    kind: 'int',
    min: 1,
    max: 256,
    default: (p) => Math.max(1, Math.floor((cores() - 1) / Number(p.workers ?? 1))),
    doc: 'onnxruntime intra-op threads per session (default: the cores left to each worker, at least 1, so workers do not oversubscribe the CPU)',
  },
  {
    key: 'tasksPerWorker',
    kind: 'int',
    min: 1,
    max: 16,
    default: () => 4,
    doc: 'batches queued at each worker at once; more than 1 overlaps message passing with inference',
  },
  {
    key: 'inlineMaxUs',
    kind: 'int',
    min: 0,
    max: 10_000,
    default: () => 250,
    unit: 'µs',
    doc: 'models whose single-row run takes at most this long may answer a lone request on the main thread when every worker is idle (the inline lane); 0 = always use the workers',
  },
  {
    key: 'maxBatchRows',
    kind: 'int',
    min: 1,
    max: 1 << 20,
    default: () => 256,
    unit: 'rows',
    doc: 'the most rows the batcher merges into one inference',
  },
  {
    key: 'maxQueueDelayUs',
    kind: 'int',
    min: 0,
    max: 10_000_000,
    default: () => 0,
    unit: 'µs',
    doc: 'how long a partial batch may wait for more rows when a worker is free; 0 sends at once (batches still form while workers are busy)',
  },
  {
    key: 'maxQueueRows',
    kind: 'int',
    min: 1,
    max: 1 << 24,
    default: () => 8192,
    unit: 'rows',
    doc: 'rows waiting per model version before requests are shed with RESOURCE_EXHAUSTED',
  },
  {
    key: 'maxQueueWaitMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    default: () => 1000,
    unit: 'ms',
    doc: 'the longest a request may wait in a model version queue: one that waited longer is shed with RESOURCE_EXHAUSTED instead of run (0 = no limit; deadlines still apply)',
  },
  {
    key: 'queueTargetMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    default: () => 100,
    unit: 'ms',
    doc: "while requests leave a model version's queue after waiting longer than this (or one batch run time, if longer; at most half of maxQueueWaitMs), the queue stands and new requests are shed at once with RESOURCE_EXHAUSTED (0 = only maxQueueWaitMs)",
  },
  {
    key: 'maxRequestRows',
    kind: 'int',
    min: 1,
    max: 1 << 24,
    default: () => 8192,
    unit: 'rows',
    doc: 'the most rows (instances) one request may carry',
  },
  {
    key: 'retryPushbackMs',
    kind: 'int',
    min: 0,
    max: 60_000,
    default: () => 50,
    unit: 'ms',
    doc: 'the `grpc-retry-pushback-ms` sent with RESOURCE_EXHAUSTED',
  },
  { key: 'rejectNonFinite', kind: 'bool', default: () => true, doc: 'reject NaN and ±Infinity inputs with INVALID_ARGUMENT' },
  {
    key: 'maxReceiveMessageBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 31 - 1,
    default: () => 16 * MiB,
    unit: 'bytes',
    doc: 'largest request message (grpc-js defaults to 4 MiB, too small for big batches)',
  },
  {
    key: 'maxSendMessageBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 31 - 1,
    default: () => 16 * MiB,
    unit: 'bytes',
    doc: 'largest response message',
  },
  {
    key: 'maxConcurrentStreams',
    kind: 'int',
    min: 1,
    max: 2 ** 31 - 1,
    // RFC 9113 asks for at least 100. More lets one connection queue work inside the server
    // faster than its main thread can answer (benchmarks/overload.ts): with 100, excess calls
    // wait in the clients, which stay within their deadlines instead of timing out in here.
    default: () => 100,
    doc: 'HTTP/2 streams at once per connection; further calls wait in the client (grpc-js has no limit by default)',
  },
  {
    key: 'keepaliveTimeMs',
    kind: 'int',
    min: 1000,
    max: 2 ** 31 - 1,
    default: () => 60_000,
    unit: 'ms',
    doc: 'server keepalive ping interval',
  },
  {
    key: 'keepaliveTimeoutMs',
    kind: 'int',
    min: 100,
    max: 2 ** 31 - 1,
    default: () => 20_000,
    unit: 'ms',
    doc: 'how long a keepalive ping may go unanswered before the connection closes',
  },
  {
    key: 'maxConnectionAgeMs',
    kind: 'int',
    min: 0,
    max: 2 ** 31 - 1,
    default: () => 0,
    unit: 'ms',
    doc: 'close connections after this age so clients rebalance across replicas; 0 = never',
  },
  {
    key: 'maxConnectionAgeGraceMs',
    kind: 'int',
    min: 0,
    max: 2 ** 31 - 1,
    default: () => 30_000,
    unit: 'ms',
    doc: 'time calls get to finish on a connection closed for age',
  },
  {
    key: 'shutdownGraceMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    default: () => 10_000,
    unit: 'ms',
    doc: 'on SIGTERM/SIGINT, how long in-flight calls get to finish before the server closes them',
  },
  {
    key: 'logLevel',
    kind: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: () => 'info',
    doc: 'pino log level',
  },
  {
    key: 'driftWindow',
    kind: 'int',
    min: 10,
    max: 1_000_000,
    default: () => 500,
    unit: 'rows',
    doc: 'live input rows per model version compared with its training profile (a sliding window)',
  },
  {
    key: 'driftMinSamples',
    kind: 'int',
    min: 1,
    max: 1_000_000,
    default: () => 30,
    unit: 'rows',
    doc: 'rows needed before any drift verdict',
  },
  {
    key: 'driftPsiThreshold',
    kind: 'number',
    min: 0,
    max: 100,
    default: () => 0.25,
    doc: 'a feature drifted when its population stability index is over this and its KS test also fires',
  },
  {
    key: 'driftKsAlpha',
    kind: 'number',
    min: 1e-12,
    max: 0.5,
    default: () => 1e-4,
    doc: 'significance of the Kolmogorov-Smirnov test (split across features, Bonferroni)',
  },
  {
    key: 'metrics',
    kind: 'bool',
    default: () => true,
    doc: 'update the Prometheus metrics (the statistics behind /stats are always kept)',
  },
  {
    key: 'metricsServer',
    kind: 'bool',
    default: () => true,
    doc: 'serve /metrics on a port of its own as well (metricsHost:metricsPort), for scrapers kept off the API port',
  },
  { key: 'metricsHost', kind: 'string', default: () => '0.0.0.0', doc: 'address the metrics port binds' },
  { key: 'metricsPort', kind: 'port', default: () => 9464, doc: 'the metrics port (0 picks a free port)' },
  {
    key: 'gateway',
    kind: 'bool',
    default: () => true,
    doc: "serve the REST gateway in this process (on httpHost:httpPort, and the registry's REST routes on registryHost:registryHttpPort)",
  },
  { key: 'httpHost', kind: 'string', default: () => '0.0.0.0', doc: 'address the REST gateway binds' },
  {
    key: 'httpRequestTimeoutMs',
    kind: 'int',
    min: 0,
    max: 2 ** 31 - 1,
    default: () => 30_000,
    unit: 'ms',
    doc: 'longest a REST request (headers and body) may take to arrive, on both HTTP ports; a slower client gets 408 and its connection closed (0 = no limit; raise it for large registry uploads over slow links)',
  },
  {
    key: 'httpHeadersTimeoutMs',
    kind: 'int',
    min: 1,
    max: 2 ** 31 - 1,
    default: () => 10_000,
    unit: 'ms',
    doc: "longest a REST request's headers may take to arrive (408 and the connection closed beyond); at most httpRequestTimeoutMs",
  },
  {
    key: 'httpKeepAliveTimeoutMs',
    kind: 'int',
    min: 1,
    max: 2 ** 31 - 1,
    default: () => 72_000,
    unit: 'ms',
    doc: 'how long an idle keep-alive REST connection stays open; keep it above the idle timeout of a load balancer in front',
  },
  {
    key: 'maxHttpBodyBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 31 - 1,
    default: () => 4 * MiB,
    unit: 'bytes',
    doc: 'largest REST request body (413 beyond)',
  },
  {
    key: 'maxJsonDepth',
    kind: 'int',
    min: 2,
    max: 10_000,
    default: () => 64,
    unit: 'levels',
    doc: 'deepest JSON nesting a REST body may have (400 beyond)',
  },
  {
    key: 'defaultModel',
    kind: 'string',
    default: () => 'production-model',
    doc: 'the model the blueprint routes (/predict, /model-info) use when a request names none',
  },
  {
    key: 'registry',
    kind: 'bool',
    default: () => true,
    doc: 'open the embedded registry under dataDir (SQLite + artifacts), serve what it says and serve the RegistryService',
  },
  {
    key: 'registryUrl',
    kind: 'string',
    default: () => '',
    doc: 'where the registry lives: empty for the embedded one under dataDir (SQLite), or postgres://user:pass@host/db to share one between replicas',
  },
  {
    key: 'artifactUrl',
    kind: 'string',
    default: () => '',
    doc: 'where model artifacts live: empty to keep them with the registry (a directory, or PostgreSQL), or s3://bucket/prefix for an S3-compatible store (credentials from the AWS SDK chain)',
  },
  {
    key: 's3Endpoint',
    kind: 'string',
    default: () => '',
    doc: 'endpoint of an S3-compatible store such as MinIO (empty = AWS S3)',
  },
  {
    key: 's3ForcePathStyle',
    kind: 'bool',
    default: () => false,
    doc: 'address S3 objects as endpoint/bucket/key (MinIO and most non-AWS stores need it)',
  },
  {
    key: 'registryPollMs',
    kind: 'int',
    min: 0,
    max: 3_600_000,
    // PostgreSQL pushes changes (LISTEN/NOTIFY), so its poll is only the safety net.
    default: (p) => (p.registryUrl === undefined || p.registryUrl === '' ? 250 : 5000),
    unit: 'ms',
    doc: 'how often the server checks the registry for changes made by other processes (0 = only this process); with PostgreSQL, changes arrive by LISTEN/NOTIFY and this poll is the safety net',
  },
  {
    key: 'maxUploadBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 40,
    default: () => 256 * MiB,
    unit: 'bytes',
    doc: 'the largest model artifact the registry accepts',
  },
  {
    key: 'registryHost',
    kind: 'string',
    default: () => '127.0.0.1',
    doc: 'address the registry plane (RegistryService, its own port) binds; a non-loopback address needs authTokens (or insecureRegistry)',
  },
  { key: 'registryPort', kind: 'port', default: () => 50052, doc: 'registry plane gRPC port (0 picks a free port)' },
  {
    key: 'registryHttpPort',
    kind: 'port',
    default: () => 8081,
    doc: "registry plane REST port, on registryHost (with the REST gateway's TLS when tlsCert is set): the registry routes (`/v1/registry/...`, `/reload-model`); 0 picks a free port",
  },
  {
    key: 'registryRestOnHttpPort',
    kind: 'bool',
    default: () => false,
    doc: 'also serve the registry REST routes on httpPort, as before; off, they answer 404 there with a pointer to registryHttpPort',
  },
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
  {
    key: 'trialLoad',
    kind: 'bool',
    default: () => true,
    doc: 'before a version is promoted, and before any version first runs in the server process (on demand, by alias, on reload, at start), load it and run it once on a sample input in a child process (time- and memory-limited); a model that crashes or hangs is refused. Outcomes are recorded in the registry; a recorded failure is refused even with this off',
  },
  {
    key: 'trialTimeoutMs',
    kind: 'int',
    min: 100,
    max: 600_000,
    default: () => 30_000,
    unit: 'ms',
    doc: 'how long the trial load and run may take',
  },
  {
    key: 'trialMaxMemoryMb',
    kind: 'int',
    min: 64,
    max: 1_048_576,
    default: () => 2048,
    unit: 'MiB',
    doc: 'resident memory the trial process may use before it is killed',
  },
];

export const envName = (key: string): string => 'QUIVER_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
export const flagName = (key: string): string => key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** A value as it came in, with where it came from, for error messages. */
interface Raw {
  readonly value: unknown;
  readonly source: string;
  /** The directory relative paths in this value are resolved against. */
  readonly base: string;
}

function describe(def: OptionDef, raw: Raw): string {
  return `option ${def.key} (${raw.source})`;
}

export function parseModelSpec(text: string, where: string): ModelSpec {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) {
    throw invalidConfig(`${where}: model '${text}' must be name=path.onnx or name:version=path.onnx`);
  }
  const left = text.slice(0, eq).trim();
  const path = text.slice(eq + 1).trim();
  const colon = left.indexOf(':');
  const name = colon < 0 ? left : left.slice(0, colon);
  const versionText = colon < 0 ? '1' : left.slice(colon + 1);
  if (!isModelName(name)) {
    throw invalidConfig(`${where}: model name '${name}' must match ${MODEL_NAME_PATTERN.source}`);
  }
  if (!/^[1-9][0-9]{0,8}$/.test(versionText)) {
    throw invalidConfig(`${where}: model version '${versionText}' must be a positive integer`);
  }
  return { name, version: Number(versionText), path };
}

/**
 * A path option made absolute, so that nothing downstream (a child process with another
 * working directory, a log line, a later chdir) depends on where the command ran. Flags,
 * the environment and defaults resolve against the command's working directory; a config
 * file's values against the file's own directory. Empty means "not set" and stays empty.
 */
function absolute(base: string, path: string): string {
  return path === '' ? '' : resolve(base, path);
}

function coerce(def: OptionDef, raw: Raw): unknown {
  const { value } = raw;
  const where = describe(def, raw);
  switch (def.kind) {
    case 'string': {
      if (typeof value !== 'string') throw invalidConfig(`${where} must be a string, got ${JSON.stringify(value)}`);
      return value;
    }
    case 'path': {
      if (typeof value !== 'string') throw invalidConfig(`${where} must be a path (a string), got ${JSON.stringify(value)}`);
      return absolute(raw.base, value);
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|1|yes|on)$/i.test(value)) return true;
      if (typeof value === 'string' && /^(false|0|no|off)$/i.test(value)) return false;
      throw invalidConfig(`${where} must be a boolean (true/false), got ${JSON.stringify(value)}`);
    }
    case 'port':
    case 'int': {
      const min = def.kind === 'port' ? 0 : (def.min ?? 0);
      const max = def.kind === 'port' ? 65535 : (def.max ?? Number.MAX_SAFE_INTEGER);
      const n = typeof value === 'string' && /^-?[0-9]+$/.test(value.trim()) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
        const unit = def.unit ? ` ${def.unit}` : '';
        throw invalidConfig(`${where} must be an integer from ${min} to ${max}${unit}, got ${JSON.stringify(value)}`);
      }
      return n;
    }
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      const min = def.min ?? -Infinity;
      const max = def.max ?? Infinity;
      if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
        throw invalidConfig(`${where} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
      }
      return n;
    }
    case 'enum': {
      if (typeof value !== 'string' || !def.values?.includes(value)) {
        throw invalidConfig(`${where} must be one of ${def.values?.join(', ')}, got ${JSON.stringify(value)}`);
      }
      return value;
    }
    case 'models': {
      const items = typeof value === 'string' ? value.split(',').filter((s) => s.trim() !== '') : value;
      if (!Array.isArray(items)) throw invalidConfig(`${where} must be a list of name=path.onnx, got ${JSON.stringify(value)}`);
      return items.map((item: unknown) => {
        const withBase = (spec: ModelSpec): ModelSpec => ({ ...spec, path: absolute(raw.base, spec.path) });
        if (typeof item === 'string') return withBase(parseModelSpec(item, where));
        if (item !== null && typeof item === 'object') {
          const o = item as Record<string, unknown>;
          const version = o.version === undefined ? '' : `:${String(o.version)}`;
          return withBase(parseModelSpec(`${String(o.name)}${version}=${String(o.path)}`, where));
        }
        throw invalidConfig(`${where}: each model must be name=path.onnx, got ${JSON.stringify(item)}`);
      });
    }
  }
}

export interface Sources {
  /** Parsed config file contents (camelCase keys). */
  readonly file?: Record<string, unknown>;
  readonly filePath?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** CLI flag values by option key. */
  readonly flags?: Partial<Record<keyof Options, unknown>>;
  /** The working directory relative flags, environment values and defaults resolve against (default: process.cwd()). */
  readonly cwd?: string;
}

/** Merges the sources, validates every option and returns the frozen result. */
export function resolveOptions(sources: Sources): Options {
  const known = new Set<string>(OPTION_DEFS.map((d) => d.key));
  for (const key of Object.keys(sources.file ?? {})) {
    if (!known.has(key)) {
      throw invalidConfig(`config file ${sources.filePath ?? ''}: unknown option '${key}' (known: ${[...known].join(', ')})`);
    }
  }
  for (const key of Object.keys(sources.flags ?? {})) {
    if (!known.has(key)) throw invalidConfig(`unknown option '${key}'`);
  }
  const cwd = sources.cwd ?? process.cwd();
  const fileBase = sources.filePath === undefined ? cwd : dirname(resolve(cwd, sources.filePath));
  const out: Partial<Record<keyof Options, unknown>> = {};
  for (const def of OPTION_DEFS) {
    let raw: Raw | undefined;
    const fileValue = sources.file?.[def.key];
    if (fileValue !== undefined) raw = { value: fileValue, source: `config file ${sources.filePath ?? ''}`.trim(), base: fileBase };
    const envValue = sources.env?.[envName(def.key)];
    if (envValue !== undefined && envValue !== '') raw = { value: envValue, source: `env ${envName(def.key)}`, base: cwd };
    const flagValue = sources.flags?.[def.key];
    // `models` is the repeatable --model flag.
    if (flagValue !== undefined)
      raw = { value: flagValue, source: `flag --${def.key === 'models' ? 'model' : flagName(def.key)}`, base: cwd };
    if (raw !== undefined) out[def.key] = coerce(def, raw);
    else out[def.key] = def.kind === 'path' ? absolute(cwd, def.default(out) as string) : def.default(out);
  }
  const options = out as unknown as Options;
  checkModels(options.models);
  if (options.registryUrl !== '' && !/^postgres(ql)?:\/\//.test(options.registryUrl)) {
    throw invalidConfig(
      `option registryUrl must be empty (the embedded registry) or a postgres:// URL, got ${JSON.stringify(options.registryUrl.replace(/:[^:@/]*@/, ':***@'))}`,
    );
  }
  if (options.artifactUrl !== '') parseS3Url(options.artifactUrl);
  if (options.httpRequestTimeoutMs > 0 && options.httpHeadersTimeoutMs > options.httpRequestTimeoutMs)
    throw invalidConfig(
      `option httpHeadersTimeoutMs (${options.httpHeadersTimeoutMs}) must be at most httpRequestTimeoutMs (${options.httpRequestTimeoutMs}): the headers are part of the request`,
    );
  checkPorts(options);
  checkTls(options);
  checkAuth(options);
  checkDrift(options);
  return Object.freeze({ ...options, models: Object.freeze(options.models.map((m) => Object.freeze({ ...m }))) });
}

/**
 * Two listeners of this process on one port: refused here, naming both options, rather than
 * at start as "port in use" naming whichever listener happened to bind second.
 */
function checkPorts(options: Options): void {
  const wildcard = (host: string): boolean => host === '' || host === '0.0.0.0' || host === '::';
  const listeners: Array<{ key: keyof Options; host: string; port: number }> = [
    { key: 'grpcPort', host: options.grpcHost, port: options.grpcPort },
  ];
  if (options.registry) listeners.push({ key: 'registryPort', host: options.registryHost, port: options.registryPort });
  if (options.gateway) listeners.push({ key: 'httpPort', host: options.httpHost, port: options.httpPort });
  if (options.gateway && options.registry)
    listeners.push({ key: 'registryHttpPort', host: options.registryHost, port: options.registryHttpPort });
  if (options.metricsServer) listeners.push({ key: 'metricsPort', host: options.metricsHost, port: options.metricsPort });
  for (const [i, a] of listeners.entries()) {
    for (const b of listeners.slice(i + 1)) {
      if (a.port === 0 || a.port !== b.port || !(a.host === b.host || wildcard(a.host) || wildcard(b.host))) continue;
      throw invalidConfig(
        `options ${a.key} and ${b.key} are both ${a.port}: each listener needs a port of its own; change one with --${flagName(b.key)} or ${envName(b.key)}`,
      );
    }
  }
}

/** TLS for gRPC (both planes) and REST alike: the files are read at start (grpc/server.ts, gateway/tls.ts). */
function checkTls(options: Options): void {
  if ((options.tlsCert === '') !== (options.tlsKey === ''))
    throw invalidConfig('options tlsCert and tlsKey go together: set both or neither');
  if (options.tlsClientAuth && options.tlsClientCa === '')
    throw invalidConfig('option tlsClientAuth needs tlsClientCa (the CA client certificates are verified against)');
  if (options.tlsClientCa !== '' && options.tlsCert === '')
    throw invalidConfig('option tlsClientCa needs tlsCert and tlsKey (client certificates are checked on TLS connections)');
}

/**
 * Refuses configurations that would expose the registry (or a token-less inference plane that
 * asked for tokens) to the network: the lesson of most model-server CVEs. Called when there
 * are no tokens: by checkAuth() over the option values, and by checkTokenCount() once the
 * tokens are read.
 */
function refuseWithoutTokens(options: Options): void {
  if (options.authInference)
    throw invalidConfig('option authInference needs API tokens (authTokens or authTokensFile) with the infer scope');
  if (options.registry && !isLoopbackHost(options.registryHost) && !options.insecureRegistry)
    throw invalidConfig(
      `refusing to serve the registry on ${options.registryHost} without authentication: set authTokens or authTokensFile, bind registryHost to 127.0.0.1, or set insecureRegistry (not for production)`,
    );
}

/** Over the option values: no token source given (neither authTokens nor authTokensFile). */
function checkAuth(options: Options): void {
  if (options.authTokens.trim() === '' && options.authTokensFile === '') refuseWithoutTokens(options);
}

/**
 * checkAuth() once the tokens are read: the number of tokens is a fact of the files at start
 * (authTokensFile is read then, and may hold no entry), not of the option values.
 */
export function checkTokenCount(options: Options, tokens: number): void {
  if (tokens === 0) refuseWithoutTokens(options);
}

/** What drift detection (src/monitoring) needs beyond each option's own bounds. */
function checkDrift(options: Options): void {
  if (options.driftMinSamples > options.driftWindow)
    throw invalidConfig(
      `option driftMinSamples (${options.driftMinSamples}) must be at most driftWindow (${options.driftWindow}): the window never holds more rows`,
    );
  if (options.driftPsiThreshold <= 0)
    throw invalidConfig(`option driftPsiThreshold must be greater than 0, got ${options.driftPsiThreshold}`);
}

function checkModels(models: readonly ModelSpec[]): void {
  const seen = new Set<string>();
  for (const m of models) {
    const id = `${m.name}:${m.version}`;
    if (seen.has(id)) throw invalidConfig(`option models: ${m.name} version ${m.version} is given twice`);
    seen.add(id);
  }
}
