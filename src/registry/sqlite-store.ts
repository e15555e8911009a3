/**
 * The embedded registry database: SQLite through better-sqlite3, in WAL mode with
 * synchronous=FULL (an acknowledged write survives a crash or power loss) and a busy
 * timeout (the CLI and servers may share one database file). Each write transaction is
 * IMMEDIATE: it takes the database's write lock up front (no upgrade deadlocks), which is
 * also why the rules need no row locks here. The rules themselves are in sql-store.ts.
 */
import Database from 'better-sqlite3';

import { isStorageFull, storageFailed, storageFull } from '../core/errors.js';
import { registrySchema } from './schema.js';
import type { Dialect, Param, Storage, Transaction } from './storage.js';

const SCHEMA = registrySchema({
  json: 'TEXT',
  bool: 'INTEGER',
  time: 'TEXT',
  bigint: 'INTEGER',
  serial: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  double: 'REAL',
});

/** The tables' names before they were the same as PostgreSQL's, and their indexes' (renamed on open). */
const LEGACY_TABLES = ['models', 'versions', 'aliases', 'audit', 'trials'];
const LEGACY_INDEXES = ['versions_sha256', 'audit_model', 'trials_sha256'];

/** better-sqlite3 binds no booleans or dates: 0/1 and ISO-8601 text, as the columns hold them. */
const bind = (params: readonly Param[]): unknown[] =>
  params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p instanceof Date ? p.toISOString() : p));

/** SQLite's errors of a write transaction as the registry's: busy, disk full, the file failing. */
function mapWriteError(err: unknown): unknown {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return err;
  if (code.startsWith('SQLITE_BUSY')) return storageFailed('the registry database is busy; retry', err);
  if (isStorageFull(err)) return storageFull('the registry database is out of disk space', err);
  // The file or the disk under it failing; the driver's text goes to the log only.
  if (/^SQLITE_(IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB)/.test(code)) return storageFailed('the registry database cannot be written', err);
  return err;
}

export class SqliteStorage implements Storage {
  readonly dialect: Dialect = { now: "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')", lockRow: '', idLookback: 0 };
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /**
   * The end of the queue of work on the connection. The driver is synchronous, but a
   * transaction's function awaits between statements, so anything else on this one connection
   * waits its turn: it would otherwise see (or add to) the open transaction's uncommitted writes.
   */
  private tail: Promise<unknown> = Promise.resolve();
  /** The statements of the open transaction, which run at once. */
  private readonly tx: Transaction = {
    all: async <R>(sql: string, params: readonly Param[] = []) => this.prepared(sql).all(...bind(params)) as R[],
    run: async (sql: string, params: readonly Param[] = []) => this.prepared(sql).run(...bind(params)).changes,
    changed: async () => undefined,
  };

  constructor(path: string) {
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('foreign_keys = ON');
      this.db.transaction(() => this.createSchema()).immediate();
    } catch (err) {
      throw storageFailed(`cannot open the registry database ${path}: ${(err as Error).message}`, err);
    }
  }

  /** Renames the tables of a registry created with the old names (once; ALTER TABLE updates the foreign keys too), then creates what is missing. */
  private createSchema(): void {
    const exists = (table: string): boolean =>
      this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
    for (const old of LEGACY_TABLES)
      if (exists(old) && !exists(`quiver_${old}`)) this.db.exec(`ALTER TABLE ${old} RENAME TO quiver_${old}`);
    // SQLite cannot rename an index: the old ones go, and the schema creates them under the new names.
    for (const index of LEGACY_INDEXES) this.db.exec(`DROP INDEX IF EXISTS ${index}`);
    this.db.exec(SCHEMA);
  }

  private prepared(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) this.statements.set(sql, (stmt = this.db.prepare(sql)));
    return stmt;
  }

  /** Runs fn once everything queued before it has finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  all<R>(sql: string, params: readonly Param[] = []): Promise<R[]> {
    return this.serial(() => this.tx.all<R>(sql, params));
  }

  run(sql: string, params: readonly Param[] = []): Promise<number> {
    return this.serial(() => this.tx.run(sql, params));
  }

  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      try {
        this.db.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn(this.tx);
          this.db.exec('COMMIT');
          return out;
        } catch (err) {
          if (this.db.inTransaction) this.db.exec('ROLLBACK');
          throw err;
        }
      } catch (err) {
        throw mapWriteError(err);
      }
    });
  }

  close(): Promise<void> {
    return this.serial(async () => void this.db.close());
  }

  /** For tests and operators: SQLite's own consistency check. */
  integrityCheck(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
  }
}
