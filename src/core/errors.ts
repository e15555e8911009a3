/**
 * Coded errors. Every error the core raises carries a `QUIVER_ERR_*` code; each code maps
 * once, here, to a gRPC status and an HTTP status. The message is ours and goes to the
 * client; the `cause` (a driver's, the filesystem's or S3's error) is for the log only.
 */
/** The canonical status codes (google.rpc.Code), shared by gRPC and by grpc-gateway's JSON. */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/**
 * grpc-gateway's mapping of status codes to HTTP (runtime/errors.go):
 * only for answers that carry no `QUIVER_ERR_*` code (grpc-js's own, another server's).
 */
const HTTP_OF_CODE: Readonly<Record<Code, number>> = {
  [Code.OK]: 200,
  [Code.CANCELLED]: 499,
  [Code.UNKNOWN]: 500,
  [Code.INVALID_ARGUMENT]: 400,
  [Code.DEADLINE_EXCEEDED]: 504,
  [Code.NOT_FOUND]: 404,
  [Code.ALREADY_EXISTS]: 409,
  [Code.PERMISSION_DENIED]: 403,
  [Code.UNAUTHENTICATED]: 401,
  [Code.RESOURCE_EXHAUSTED]: 429,
  [Code.FAILED_PRECONDITION]: 400,
  [Code.ABORTED]: 409,
  [Code.OUT_OF_RANGE]: 400,
  [Code.UNIMPLEMENTED]: 501,
  [Code.INTERNAL]: 500,
  [Code.UNAVAILABLE]: 503,
  [Code.DATA_LOSS]: 500,
};

/** The HTTP status for a gRPC status code, as grpc-gateway maps it. */
export function httpStatusOfCode(code: number): number {
  return HTTP_OF_CODE[code as Code] ?? 500;
}

/** The response metadata (gRPC trailer) naming an error's `QUIVER_ERR_*` code. */
export const ERROR_CODE_KEY = 'quiver-error-code';

interface CodeInfo {
  readonly grpc: Code;
  readonly http: number;
}

/** What each code means, for the documentation's error table (docs/errors.md). */
export const ERROR_MEANINGS: Readonly<Record<ErrorCode, string>> = {
  QUIVER_ERR_INVALID_ARGUMENT: 'the request is malformed: the message names the field and what was expected',
  QUIVER_ERR_MODEL_NOT_FOUND: 'no such model, version or alias is served: the message lists what is',
  QUIVER_ERR_QUEUE_FULL:
    'the server sheds load (maxInflight reached, a queue full or standing, or a latency objective that would be missed): retry after `grpc-retry-pushback-ms` / `Retry-After`',
  QUIVER_ERR_DEADLINE_EXCEEDED: "the call's deadline passed before it was answered",
  QUIVER_ERR_CANCELLED: 'the client cancelled the call',
  QUIVER_ERR_UNAVAILABLE: 'the server is shutting down or a dependency (the registry database) is unreachable',
  QUIVER_ERR_MODEL_LOAD: 'a model does not load or failed its trial load (it is not served)',
  QUIVER_ERR_INFERENCE: 'onnxruntime failed on a valid request (details in the server log)',
  QUIVER_ERR_INTERNAL: 'an unexpected error (details in the server log, under the request id)',
  QUIVER_ERR_INVALID_CONFIG: 'an option or config file value is invalid (start-up, CLI)',
  QUIVER_ERR_NOT_FOUND: 'no such registry object: model, version, alias or audit entry',
  QUIVER_ERR_ALREADY_EXISTS: 'the registry object exists already',
  QUIVER_ERR_FAILED_PRECONDITION: "the registry's rules refuse the change (e.g. deleting a version a stage points at)",
  QUIVER_ERR_TOO_LARGE: 'an upload or body is over its limit (`maxUploadBytes`, `maxHttpBodyBytes`)',
  QUIVER_ERR_STORAGE: 'the registry storage failed (database, files, S3): details in the server log, under the request id',
  QUIVER_ERR_STORAGE_FULL: 'the disk or quota under the registry is full: nothing was written',
  QUIVER_ERR_UNAUTHENTICATED: 'a token is needed and none or an unknown one was given',
  QUIVER_ERR_PERMISSION_DENIED: "the token lacks the call's scope",
};

const CODES = {
  QUIVER_ERR_INVALID_ARGUMENT: { grpc: Code.INVALID_ARGUMENT, http: 400 },
  QUIVER_ERR_MODEL_NOT_FOUND: { grpc: Code.NOT_FOUND, http: 404 },
  QUIVER_ERR_QUEUE_FULL: { grpc: Code.RESOURCE_EXHAUSTED, http: 429 },
  QUIVER_ERR_DEADLINE_EXCEEDED: { grpc: Code.DEADLINE_EXCEEDED, http: 504 },
  QUIVER_ERR_CANCELLED: { grpc: Code.CANCELLED, http: 499 },
  QUIVER_ERR_UNAVAILABLE: { grpc: Code.UNAVAILABLE, http: 503 },
  QUIVER_ERR_MODEL_LOAD: { grpc: Code.FAILED_PRECONDITION, http: 400 },
  QUIVER_ERR_INFERENCE: { grpc: Code.INTERNAL, http: 500 },
  QUIVER_ERR_INTERNAL: { grpc: Code.INTERNAL, http: 500 },
  QUIVER_ERR_INVALID_CONFIG: { grpc: Code.INVALID_ARGUMENT, http: 400 },
  QUIVER_ERR_NOT_FOUND: { grpc: Code.NOT_FOUND, http: 404 },
  QUIVER_ERR_ALREADY_EXISTS: { grpc: Code.ALREADY_EXISTS, http: 409 },
  QUIVER_ERR_FAILED_PRECONDITION: { grpc: Code.FAILED_PRECONDITION, http: 400 },
  QUIVER_ERR_TOO_LARGE: { grpc: Code.RESOURCE_EXHAUSTED, http: 413 },
  QUIVER_ERR_STORAGE: { grpc: Code.UNAVAILABLE, http: 503 },
  QUIVER_ERR_STORAGE_FULL: { grpc: Code.RESOURCE_EXHAUSTED, http: 507 },
  QUIVER_ERR_UNAUTHENTICATED: { grpc: Code.UNAUTHENTICATED, http: 401 },
  QUIVER_ERR_PERMISSION_DENIED: { grpc: Code.PERMISSION_DENIED, http: 403 },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CODES;

/** Every code, in the table's order. */
export const ERROR_CODES = Object.keys(CODES) as ErrorCode[];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(CODES, value);
}

/**
 * The HTTP status of a failed call: its `QUIVER_ERR_*` code's (from the `quiver-error-code`
 * trailer) when it has one, else grpc-gateway's for its gRPC status.
 */
export function httpStatusOfAnswer(grpcCode: number, quiverCode: unknown): number {
  return isErrorCode(quiverCode) ? CODES[quiverCode].http : httpStatusOfCode(grpcCode);
}

export class QuiverError extends Error {
  readonly code: ErrorCode;
  /** Extra key/value pairs sent as response metadata (e.g. grpc-retry-pushback-ms). */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; metadata?: Record<string, string> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QuiverError';
    this.code = code;
    this.metadata = Object.freeze({ ...options.metadata });
  }

  get grpcStatus(): Code {
    return CODES[this.code].grpc;
  }

  get httpStatus(): number {
    return CODES[this.code].http;
  }
}

export function grpcStatusOf(code: ErrorCode): Code {
  return CODES[code].grpc;
}

export function httpStatusOf(code: ErrorCode): number {
  return CODES[code].http;
}

export const invalidArgument = (message: string): QuiverError => new QuiverError('QUIVER_ERR_INVALID_ARGUMENT', message);

export const modelNotFound = (message: string): QuiverError => new QuiverError('QUIVER_ERR_MODEL_NOT_FOUND', message);

export const queueFull = (message: string, retryPushbackMs: number): QuiverError =>
  new QuiverError('QUIVER_ERR_QUEUE_FULL', message, {
    metadata: { 'grpc-retry-pushback-ms': String(retryPushbackMs) },
  });

export const deadlineExceeded = (message: string): QuiverError => new QuiverError('QUIVER_ERR_DEADLINE_EXCEEDED', message);

export const cancelled = (message: string): QuiverError => new QuiverError('QUIVER_ERR_CANCELLED', message);

export const unavailable = (message: string): QuiverError => new QuiverError('QUIVER_ERR_UNAVAILABLE', message);

export const modelLoadFailed = (message: string, cause?: unknown): QuiverError =>
  new QuiverError('QUIVER_ERR_MODEL_LOAD', message, { cause });

export const inferenceFailed = (message: string, cause?: unknown): QuiverError =>
  new QuiverError('QUIVER_ERR_INFERENCE', message, { cause });

export const internal = (message: string, cause?: unknown): QuiverError => new QuiverError('QUIVER_ERR_INTERNAL', message, { cause });

export const invalidConfig = (message: string): QuiverError => new QuiverError('QUIVER_ERR_INVALID_CONFIG', message);

export const notFound = (message: string): QuiverError => new QuiverError('QUIVER_ERR_NOT_FOUND', message);

export const alreadyExists = (message: string): QuiverError => new QuiverError('QUIVER_ERR_ALREADY_EXISTS', message);

export const failedPrecondition = (message: string): QuiverError => new QuiverError('QUIVER_ERR_FAILED_PRECONDITION', message);

export const tooLarge = (message: string): QuiverError => new QuiverError('QUIVER_ERR_TOO_LARGE', message);

export const storageFull = (message: string, cause?: unknown): QuiverError =>
  new QuiverError('QUIVER_ERR_STORAGE_FULL', message, { cause });

/** Whether a filesystem or database error says the disk (or the quota) is full. */
export const isStorageFull = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  // ENOSPC / EDQUOT from the filesystem, 53100 (disk_full) from PostgreSQL, SQLITE_FULL from SQLite.
  return code === 'ENOSPC' || code === 'EDQUOT' || code === '53100' || code === 'SQLITE_FULL';
};

export const storageFailed = (message: string, cause?: unknown): QuiverError => new QuiverError('QUIVER_ERR_STORAGE', message, { cause });

/** The most characters of one piece of user input an error message repeats. */
export const ECHO_MAX = 64;

/**
 * User input as an error message repeats it: whole when short, else its first `max`
 * characters, an ellipsis and its length, so a 100k-character name costs a client 100 bytes.
 * The one helper every message that echoes input uses (and the boundary, for quoted text).
 */
export function echo(value: string, max = ECHO_MAX): string {
  return value.length <= max ? value : `${value.slice(0, max)}... (${value.length} characters)`;
}

/** A list of numbers (a shape) as messages show it: `[1, 2, 3]`, at most `max` items then a count. */
export function echoList(items: readonly unknown[], max = 8): string {
  const shown = items.slice(0, max).map((d) => String(d));
  return items.length <= max ? `[${shown.join(', ')}]` : `[${shown.join(', ')}, ... (${items.length} in all)]`;
}

/** The longest client message: a message is one line; anything past this is clipped. */
export const CLIENT_MESSAGE_MAX = 1024;

// Route paths and gRPC method names a message may name: not files, kept as they are.
const ROUTE_ROOT =
  /^\/(?:v\d+|predict|health|metrics|stats|model-info|reload-model|openapi\.json|[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*\.v\d+\.[A-Za-z]+)(?:[/:?#]|$)/;
// onnxruntime's ORT_ENFORCE text: `[/src/dir/]file.cc:NNN [ns::Func(args)] cond was false.`
const SOURCE_LOCATION = /(?:\/[\w.+-]+)*\/?\b[\w+-]+\.(?:cc|cpp|cxx|c|h|hpp|hh|inl)(?::\d+)?\b/g;
const RUNTIME_FRAME = /\b(?:onnxruntime|onnx|std|Ort|ort)::[\w:~<>,*& ]*?(?:\((?:[^()]|\([^()]*\))*\))?(?:\s*const)?(?=\s|$)/g;
const ENFORCE_CONDITION = /(?<=^|: |\. )(?:(?!: |\. ).)*? was false\.\s*/g;
const ABSOLUTE_PATH = /(?<![\w.:/\\-])(?:file:\/\/)?\/(?:[^\s'"`,;()[\]{}<>/]+\/)*[^\s'"`,;()[\]{}<>/]*[^\s'"`,;()[\]{}<>/.:]/g;
const LONG_QUOTED = /'([^'\s]{65,})'|"([^"\s]{65,})"/g;
const LONG_TOKEN = /[^\s'"]{129,}/g;
const HUGE_TOKEN = /[^\s'"]{513,}/g;
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

// The first segments of filesystem paths (Linux, macOS, containers, onnxruntime's build tree).
const FS_ROOT =
  /^(?:file:\/\/)?\/(?:tmp|var|home|usr|opt|etc|root|srv|mnt|media|data|work|workspace|app|build|nix|snap|run|proc|dev|sys|lib|lib64|bin|sbin|boot|private|Users|Volumes|Library|System|onnxruntime_src|quiver)(?:\/|$)/;

/** Whether an absolute path in a message is a file's (not a route's: `/no/such/route` stays). */
function isFilePath(path: string): boolean {
  if (ROUTE_ROOT.test(path)) return false;
  if (path.startsWith('file://') || FS_ROOT.test(path)) return true;
  // Elsewhere: a path of two or more segments ending in a file name with an extension.
  return /^\/[^/]+\/.*\.[A-Za-z][A-Za-z0-9]{0,7}$/.test(path);
}

function basenameOf(path: string): string {
  const parts = path.replace(/^file:\/\//, '/').split('/');
  return parts[parts.length - 1] || '<path>';
}

/**
 * A message as a client may see it: one line, no driver or runtime text (onnxruntime's
 * `file.cc:NNN` locations, `onnxruntime::...` frames and ORT_ENFORCE conditions), no absolute
 * path (a file's basename stands for it), quoted input clipped with `echo`, and at most
 * CLIENT_MESSAGE_MAX characters. Applied once, where an error becomes an answer
 * (error-report.ts, the gateway's and the gRPC encoders' item statuses); the log keeps the raw text.
 */
export function clientText(message: string): string {
  return sanitiseMessage(message).text;
}

/** clientText's work, and whether it took out runtime text or a path (not just clipped input). */
export function sanitiseMessage(message: string): { readonly text: string; readonly stripped: boolean } {
  let stripped = false;
  const strip =
    (keep: (m: string) => string | undefined) =>
    (m: string): string => {
      const kept = keep(m);
      if (kept === m) return m;
      stripped = true;
      return kept ?? '';
    };
  // Input-sized parts first, with linear-time patterns: the rest then runs on short tokens.
  let text = message
    .replace(ANSI, '')
    .replace(/\s+/g, ' ')
    .replace(LONG_QUOTED, (_m, single: string | undefined, double: string | undefined) =>
      single !== undefined ? `'${echo(single)}'` : `"${echo(double as string)}"`,
    )
    .replace(HUGE_TOKEN, (m) => echo(m));
  let clipped = false;
  if (text.length > 8 * CLIENT_MESSAGE_MAX) {
    text = text.slice(0, 8 * CLIENT_MESSAGE_MAX);
    clipped = true;
  }
  text = text.replace(
    SOURCE_LOCATION,
    strip((m) => (ROUTE_ROOT.test(m) ? m : undefined)),
  );
  if (text.includes('::'))
    text = text.replace(
      RUNTIME_FRAME,
      strip(() => undefined),
    );
  if (text.includes(' was false.'))
    text = text.replace(
      ENFORCE_CONDITION,
      strip(() => undefined),
    );
  text = text
    .replace(
      ABSOLUTE_PATH,
      strip((m) => (isFilePath(m) ? basenameOf(m) : m)),
    )
    .replace(LONG_TOKEN, (m) => echo(m))
    .replace(/ {2,}/g, ' ')
    .replace(/ ([.,;])(?=\s|$)/g, '$1')
    .trim();
  if (clipped || text.length > CLIENT_MESSAGE_MAX) text = `${text.slice(0, CLIENT_MESSAGE_MAX)}... (message clipped)`;
  return { text, stripped };
}

/** Any thrown value as a QuiverError; unknown errors become INTERNAL with a generic message. */
export function toQuiverError(err: unknown): QuiverError {
  if (err instanceof QuiverError) return err;
  return internal('internal error', err);
}

/** Codes that are the caller's doing (bad input, no such model, no right, gave up), not a failure of the server or the model. */
const CALLER_CODES: ReadonlySet<number> = new Set([
  Code.CANCELLED,
  Code.INVALID_ARGUMENT,
  Code.NOT_FOUND,
  Code.ALREADY_EXISTS,
  Code.PERMISSION_DENIED,
  Code.FAILED_PRECONDITION,
  Code.OUT_OF_RANGE,
  Code.UNAUTHENTICATED,
]);

/** Whether an error is the server's or the model's failure (what a rollout counts against a version). */
export const isServerFault = (err: QuiverError): boolean => !CALLER_CODES.has(err.grpcStatus);

export const unauthenticated = (message: string): QuiverError => new QuiverError('QUIVER_ERR_UNAUTHENTICATED', message);

export const permissionDenied = (message: string): QuiverError => new QuiverError('QUIVER_ERR_PERMISSION_DENIED', message);
