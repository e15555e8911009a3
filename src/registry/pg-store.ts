/**
 * The registry's database on PostgreSQL (`pg`), for replicas that share one registry. The
 * rules are the SQLite registry's (sql-store.ts; the registry test suite runs against both);
 * here are PostgreSQL's connection pool, its errors, its transactions, the row locks the rules
 * ask for (SELECT ... FOR UPDATE), NOTIFY on every write (pg-notify.ts) and advisory locks.
 */
import pg from 'pg';

import { isStorageFull, storageFailed, storageFull } from '../core/errors.js';
import { NOTIFY_CHANNEL } from './pg-notify.js';
import { registrySchema } from './schema.js';
import type { Dialect, Param, Statements, Storage, Transaction } from './storage.js';

const SCHEMA = `${registrySchema({
  json: 'JSONB',
  bool: 'BOOLEAN',
  time: 'TIMESTAMPTZ',
  bigint: 'BIGINT',
  serial: 'BIGSERIAL PRIMARY KEY',
  double: 'DOUBLE PRECISION',
})}
CREATE TABLE IF NOT EXISTS quiver_artifacts (
  sha256 TEXT PRIMARY KEY,
  size_bytes BIGINT NOT NULL,
  chunks INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS quiver_artifact_chunks (
  sha256 TEXT NOT NULL REFERENCES quiver_artifacts(sha256) ON DELETE CASCADE,
  chunk INTEGER NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY (sha256, chunk)
);
`;

/** Error codes of a database that cannot be reached (socket errors; 57P0x: shutting down). */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01',
  '57P02',
  '57P03',
]);

/**
 * A checked-out client's connection can break between two queries (the server restarts, an
 * administrator ends the session); pg then emits `error` on the client, which would crash the
 * process without a listener (the pool listens only while the client is idle). The error
 * surfaces anyway on the next query; release() hands the client back, destroying it if it broke.
 */
function watchCheckedOut(client: pg.PoolClient): { release(): void } {
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  return {
    release() {
      client.off('error', onError);
      client.release(broken);
    },
  };
}

/** Connection failures (the server down, restarting, unreachable) become UNAVAILABLE, a full disk RESOURCE_EXHAUSTED; the rest pass through. */
function mapError(err: unknown): unknown {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? '';
  if (
    (code !== undefined && (code.startsWith('08') || UNREACHABLE.has(code))) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message)
  ) {
    return storageFailed('the registry database is unavailable', err);
  }
  if (isStorageFull(err)) return storageFull('the registry database is out of disk space', err);
  return err;
}

/** The shared SQL's `?` parameters as PostgreSQL's $1, $2, ... (no statement here has a `?` of its own). */
const numbered = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/** Statements on a pool (each on any free connection) or on one transaction's client. */
function statements(c: Pick<pg.Pool, 'query'>): Statements {
  return {
    all: async <R>(sql: string, params: readonly Param[] = []) => (await c.query(numbered(sql), [...params])).rows as R[],
    run: async (sql: string, params: readonly Param[] = []) => (await c.query(numbered(sql), [...params])).rowCount ?? 0,
  };
}

export class PgStorage implements Storage {
  readonly dialect: Dialect = { now: 'now()', lockRow: ' FOR UPDATE', idLookback: 1000 };
  private readonly onPool: Statements;

  private constructor(readonly pool: pg.Pool) {
    this.onPool = statements(pool);
  }

  /** Connects and creates the schema (under an advisory lock: replicas may start together). */
  static async open(url: string): Promise<PgStorage> {
    // Opening a connection (a backend forked, then a SCRAM handshake) takes milliseconds, but
    // over 15 s has been seen on an overloaded host; the limit is only there so that a database
    // that never answers fails the call (a refused or reset connection fails at once).
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 30_000 });
    pool.on('error', () => undefined); // idle-client errors surface on the next query instead
    const storage = new PgStorage(pool);
    try {
      await storage.transaction(async (tx) => {
        await tx.run("SELECT pg_advisory_xact_lock(hashtext('quiver_registry_schema'))");
        await tx.run(SCHEMA);
      });
    } catch (err) {
      await pool.end();
      throw storageFailed(`cannot open the registry database: ${(err as Error).message}`, err);
    }
    return storage;
  }

  async all<R>(sql: string, params?: readonly Param[]): Promise<R[]> {
    try {
      return await this.onPool.all<R>(sql, params);
    } catch (err) {
      throw mapError(err);
    }
  }

  async run(sql: string, params?: readonly Param[]): Promise<number> {
    try {
      return await this.onPool.run(sql, params);
    } catch (err) {
      throw mapError(err);
    }
  }

  async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapError(err);
    }
    const lost = watchCheckedOut(client);
    const tx: Transaction = {
      ...statements(client),
      changed: async (model) => void (await client.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, model])),
    };
    try {
      await client.query('BEGIN');
      const out = await fn(tx);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw mapError(err);
    } finally {
      lost.release();
    }
  }

  async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw mapError(err);
    });
    const lost = watchCheckedOut(client);
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [`quiver:${key}`]);
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`quiver:${key}`]);
      }
    } finally {
      lost.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
