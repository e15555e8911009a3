/**
 * The small interface a registry database implements (SQLite in sqlite-store.ts, PostgreSQL in
 * pg-store.ts): statements with positional parameters, and transactions. The registry's rules
 * are written once, over this, in sql-store.ts; what differs between the two SQL dialects is
 * here as a few strings, or inside the adapters.
 */

/** A value bound to a `?` parameter (an adapter converts what its driver cannot bind: SQLite has no booleans or dates). */
export type Param = string | number | boolean | Date | Buffer | null;

/** Statements, their parameters written `?` in the SQL text. */
export interface Statements {
  /** The rows the query returns. */
  all<R>(sql: string, params?: readonly Param[]): Promise<R[]>;
  /** Runs a statement; resolves to the number of rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly Param[]): Promise<number>;
}

/** The statements of one transaction. */
export interface Transaction extends Statements {
  /** Tells the other processes sharing the database, once this commits, that the model changed (PostgreSQL: NOTIFY; SQLite: nothing, it is polled). */
  changed(model: string): Promise<void>;
}

/** What the shared SQL text needs to know of the dialect. */
export interface Dialect {
  /** The SQL expression for the current time, as the timestamp columns store it. */
  readonly now: string;
  /**
   * Appended to the SELECT of a model's row in a write transaction, to hold the row until
   * commit: ' FOR UPDATE' where writers lock rows (PostgreSQL: it serializes version numbers and
   * stage transitions per model across replicas), '' where a write transaction already holds
   * the whole database's write lock (SQLite's BEGIN IMMEDIATE).
   */
  readonly lockRow: string;
  /**
   * How far back, in audit ids, `changesSince` looks: PostgreSQL hands out ids before commit,
   * so concurrent writers may commit out of id order; SQLite's one writer commits them in order (0).
   */
  readonly idLookback: number;
}

export interface Storage extends Statements {
  readonly dialect: Dialect;
  /** Runs fn in one write transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** A lock other processes sharing the database respect (see RegistryStore.exclusive); absent where there are none. */
  exclusive?<T>(key: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
