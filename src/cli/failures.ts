/**
 * The failures a command can expect from its surroundings (a file that is not there, a
 * registry that does not answer, a data directory it cannot write) as one-line QuiverErrors
 * that name the flag or option and say what to do. The original error stays as the cause,
 * for --verbose; anything else is returned unchanged.
 */
import { envName, flagName, type Options } from '../config/options.js';
import { QuiverError, storageFailed } from '../core/errors.js';

/** Filesystem error codes, in words. */
const FILE_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a directory',
  // mkdir -p on a path through a regular file.
  EEXIST: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
};

/** Network error codes, in words. */
const NET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

/** SQLite's codes for a database file it cannot create or write. */
const SQLITE_UNWRITABLE = new Set(['SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_PERM']);

interface SystemError {
  readonly code: string;
  readonly path?: string;
  readonly message: string;
}

/** The first error with a string `code` in err, its causes and (AggregateError) its parts. */
function systemError(err: unknown, depth = 0): SystemError | undefined {
  if (err === null || typeof err !== 'object' || depth > 8) return undefined;
  const e = err as { code?: unknown; path?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (!(err instanceof QuiverError) && typeof e.code === 'string') {
    return { code: e.code, message: String(e.message), ...(typeof e.path === 'string' ? { path: e.path } : {}) };
  }
  for (const inner of [e.cause, ...(Array.isArray(e.errors) ? (e.errors as unknown[]) : [])]) {
    const found = systemError(inner, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The fix, per option: its flag and its environment variable. */
const fix = (key: keyof Options): string => `--${flagName(key)} or ${envName(key)}`;

/** A URL with its password replaced by ***. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/:@]*):[^@/]*@/i, '$1:***@');
}

/** Reading an input file failed: a filesystem error names the flag and the path; data errors get the same prefix. */
export function inputFailure(flag: string, path: string, err: unknown): unknown {
  if (err instanceof QuiverError) {
    return err.code === 'QUIVER_ERR_FAILED_PRECONDITION'
      ? new QuiverError(err.code, `${flag} ${path}: ${err.message}`, { cause: err })
      : err;
  }
  const sys = systemError(err);
  if (sys === undefined || FILE_REASONS[sys.code] === undefined) return err;
  const what =
    sys.code === 'ENOENT'
      ? 'no such file; check the path'
      : sys.code === 'EISDIR'
        ? 'is a directory; give a file'
        : `cannot read it (${FILE_REASONS[sys.code]}); check the path and its permissions`;
  return new QuiverError(sys.code === 'ENOENT' ? 'QUIVER_ERR_NOT_FOUND' : 'QUIVER_ERR_STORAGE', `${flag} ${path}: ${what}`, { cause: err });
}

/** Writing an output file (or making its folder) failed. */
export function outputFailure(flag: string, path: string, err: unknown): unknown {
  const sys = systemError(err);
  if (sys === undefined || FILE_REASONS[sys.code] === undefined) return err;
  return storageFailed(`${flag} ${path}: cannot write it (${FILE_REASONS[sys.code]}); pick another path`, err);
}

/**
 * Opening the registry (or starting the server) failed because of where it lives: a
 * PostgreSQL server that does not answer, or a data directory that cannot be written.
 */
export function registryFailure(options: Pick<Options, 'registryUrl' | 'dataDir'>, err: unknown): unknown {
  const sys = systemError(err);
  if (sys === undefined) return err;
  const net = NET_REASONS[sys.code];
  if (options.registryUrl !== '' && net !== undefined) {
    return storageFailed(
      `cannot reach the registry at ${redactUrl(options.registryUrl)} (${net}): start PostgreSQL or fix ${fix('registryUrl')}`,
      err,
    );
  }
  const file = FILE_REASONS[sys.code] ?? (SQLITE_UNWRITABLE.has(sys.code) ? 'cannot open a database there' : undefined);
  const inDataDir = sys.path === undefined || sys.path === options.dataDir || sys.path.startsWith(options.dataDir + '/');
  if (file !== undefined && inDataDir) {
    return storageFailed(`dataDir ${options.dataDir}: cannot write there (${file}): pick a writable directory with ${fix('dataDir')}`, err);
  }
  return err;
}

/** An unknown model, version or alias, with where to look. */
export function withListHint(err: unknown): unknown {
  if (!(err instanceof QuiverError) || (err.code !== 'QUIVER_ERR_NOT_FOUND' && err.code !== 'QUIVER_ERR_MODEL_NOT_FOUND')) return err;
  return new QuiverError(
    err.code,
    `${err.message}: \`quiver registry list\` shows the models, \`quiver registry versions --model-name NAME\` their versions and aliases`,
    { cause: err },
  );
}
