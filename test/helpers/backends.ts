/**
 * The registry backends the registry tests run against: the embedded SQLite one, and
 * PostgreSQL (a fresh database per test) at QUIVER_TEST_POSTGRES_URL, which `.ci/run` starts
 * from Debian's packages (default postgres://quiver:quiver@127.0.0.1:5432/postgres).
 */
import { randomBytes } from 'node:crypto';

import pg from 'pg';

export const POSTGRES_ADMIN_URL = process.env.QUIVER_TEST_POSTGRES_URL ?? 'postgres://quiver:quiver@127.0.0.1:5432/postgres';

export interface Backend {
  readonly name: 'sqlite' | 'postgres';
  /** A registry URL for one test ('' for SQLite), and how to drop it afterwards. */
  create(): Promise<{ url: string; drop(): Promise<void> }>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  try {
    await c.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL is not reachable at ${POSTGRES_ADMIN_URL} (.ci/run starts it; set QUIVER_TEST_POSTGRES_URL): ${(err as Error).message}`,
      { cause: err },
    );
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export const SQLITE: Backend = { name: 'sqlite', create: async () => ({ url: '', drop: async () => undefined }) };

export const POSTGRES: Backend = {
  name: 'postgres',
  async create() {
    const db = `quiver_test_${randomBytes(6).toString('hex')}`;
    await admin((c) => c.query(`CREATE DATABASE ${db}`));
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${db}`;
    return {
      url: url.toString(),
      drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`)).then(() => undefined),
    };
  },
};

export const BACKENDS: readonly Backend[] = [SQLITE, POSTGRES];
