/**
 * Registries created by earlier releases open with this one and keep everything: a PostgreSQL
 * registry made with the old DDL (its tables always had the `quiver_` names, which are now the
 * names in both backends), and a SQLite registry made with the old un-prefixed names, which
 * opening renames (its foreign keys, indexes and audit id sequence with it). Each old database
 * is made with the DDL its release ran, copied here, and filled with plain INSERTs.
 */
import { join } from 'node:path';

import test from 'ava';
import Database from 'better-sqlite3';
import pg from 'pg';

import { Lineage } from '../src/gen/quiver/v1/registry.js';
import { openStores } from '../src/registry/open-store.js';
import type { RegistryStore, SignatureRecord } from '../src/registry/types.js';
import { POSTGRES } from './helpers/backends.js';
import { tmp } from './helpers/fixtures.js';

/** The PostgreSQL DDL of pg-store.ts before the registry's rules were shared (issue 12 point 2). */
const OLD_POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS quiver_models (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  tags JSONB NOT NULL DEFAULT '{}',
  next_version INTEGER NOT NULL DEFAULT 1,
  created_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS quiver_versions (
  model_name TEXT NOT NULL REFERENCES quiver_models(name),
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes BIGINT NOT NULL,
  signature JSONB NOT NULL,
  lineage JSONB NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags JSONB NOT NULL DEFAULT '{}',
  archived BOOLEAN NOT NULL DEFAULT FALSE,
  created_by TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (model_name, version)
);
CREATE INDEX IF NOT EXISTS quiver_versions_sha256 ON quiver_versions(sha256);
CREATE TABLE IF NOT EXISTS quiver_aliases (
  model_name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (model_name, alias),
  FOREIGN KEY (model_name, version) REFERENCES quiver_versions(model_name, version)
);
CREATE TABLE IF NOT EXISTS quiver_audit (
  id BIGSERIAL PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  model_name TEXT NOT NULL,
  version INTEGER,
  alias TEXT,
  detail JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS quiver_audit_model ON quiver_audit(model_name, id);
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
CREATE TABLE IF NOT EXISTS quiver_trials (
  model_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed')),
  reason TEXT NOT NULL DEFAULT '',
  at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (model_name, version, sha256)
);
CREATE INDEX IF NOT EXISTS quiver_trials_sha256 ON quiver_trials(sha256);
`;

/** The SQLite DDL of sqlite-store.ts before the tables took PostgreSQL's names. */
const OLD_SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS models (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  next_version INTEGER NOT NULL DEFAULT 1,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
  model_name TEXT NOT NULL REFERENCES models(name),
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes INTEGER NOT NULL,
  signature TEXT NOT NULL,
  lineage TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags TEXT NOT NULL DEFAULT '{}',
  archived INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (model_name, version)
);
CREATE INDEX IF NOT EXISTS versions_sha256 ON versions(sha256);
CREATE TABLE IF NOT EXISTS aliases (
  model_name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (model_name, alias),
  FOREIGN KEY (model_name, version) REFERENCES versions(model_name, version)
);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  model_name TEXT NOT NULL,
  version INTEGER,
  alias TEXT,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_model ON audit(model_name, id);
CREATE TABLE IF NOT EXISTS trials (
  model_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed')),
  reason TEXT NOT NULL DEFAULT '',
  at TEXT NOT NULL,
  PRIMARY KEY (model_name, version, sha256)
);
CREATE INDEX IF NOT EXISTS trials_sha256 ON trials(sha256);
`;

const T0 = '2024-01-02T03:04:05.000Z';
const SHA1 = 'a'.repeat(64);
const SHA2 = 'b'.repeat(64);
const SIGNATURE: SignatureRecord = {
  inputs: [{ name: 'features', dtype: 'float32', dims: [-1, 10] }],
  outputs: [{ name: 'label', dtype: 'int64', dims: [-1] }],
  featureNames: null,
  onnxMetadata: { producer: 'old' },
};
const LINEAGE = Lineage.fromPartial({ algorithm: 'logistic', datasetRows: 1000 });

/**
 * One model as the old code left it: version 1 archived with the alias 'champion', version 2
 * in Production, four audit rows and a trial. Literal values only, so the same text fills
 * both databases (each casts the literals to its column types).
 */
function oldRows(prefix: string): string {
  const signature = JSON.stringify(SIGNATURE);
  const lineage = JSON.stringify(Lineage.toJSON(LINEAGE));
  return `
INSERT INTO ${prefix}models (name, description, tags, next_version, created_at, updated_at)
  VALUES ('fraud', 'old model', '{"team":"risk"}', 3, '${T0}', '${T0}');
INSERT INTO ${prefix}versions (model_name, version, sha256, size_bytes, signature, lineage, description, tags, archived, created_by, created_at)
  VALUES ('fraud', 1, '${SHA1}', 123, '${signature}', '${lineage}', 'first', '{}', TRUE, 'alice', '${T0}'),
         ('fraud', 2, '${SHA2}', 456, '${signature}', '${lineage}', 'second', '{"k":"v"}', FALSE, 'bob', '${T0}');
INSERT INTO ${prefix}aliases (model_name, alias, version, updated_at)
  VALUES ('fraud', 'champion', 1, '${T0}'), ('fraud', 'production', 2, '${T0}');
INSERT INTO ${prefix}audit (at, actor, action, model_name, version, alias, detail)
  VALUES ('${T0}', 'alice', 'create_model', 'fraud', NULL, NULL, '{"implicit":true}'),
         ('${T0}', 'alice', 'create_version', 'fraud', 1, NULL, '{}'),
         ('${T0}', 'bob', 'create_version', 'fraud', 2, NULL, '{}'),
         ('${T0}', 'bob', 'transition_stage', 'fraud', 2, NULL, '{"from":"None","to":"Production","archived_version":1}');
INSERT INTO ${prefix}trials (model_name, version, sha256, outcome, reason, at)
  VALUES ('fraud', 2, '${SHA2}', 'passed', '', '${T0}');
`;
}

/** Everything the old rows say, read through the new store; then writes go on where the old ones stopped. */
async function checkKeptAndWritable(t: import('ava').ExecutionContext, store: RegistryStore): Promise<void> {
  const model = await store.getModel('fraud');
  t.like(model, { name: 'fraud', description: 'old model', tags: { team: 'risk' }, latestVersion: 2 });
  t.deepEqual(model?.aliases, { champion: 1, production: 2 });
  t.is(model?.createdAt.toISOString(), T0);
  const v1 = await store.getVersion('fraud', 1);
  t.like(v1, { sha256: SHA1, sizeBytes: 123, description: 'first', archived: true, createdBy: 'alice', stage: 'Archived' });
  t.deepEqual(v1?.aliases, ['champion']);
  t.deepEqual(v1?.signature, SIGNATURE);
  t.deepEqual(v1?.lineage, LINEAGE);
  const v2 = await store.getVersion('fraud', 2);
  t.like(v2, { sha256: SHA2, sizeBytes: 456, tags: { k: 'v' }, archived: false, stage: 'Production' });
  t.is(v2?.createdAt.toISOString(), T0);
  const audit = await store.audit('fraud', 0, 100);
  t.deepEqual(
    audit.map((a) => [a.id, a.actor, a.action, a.version]),
    [
      [1, 'alice', 'create_model', null],
      [2, 'alice', 'create_version', 1],
      [3, 'bob', 'create_version', 2],
      [4, 'bob', 'transition_stage', 2],
    ],
  );
  t.deepEqual(audit[3]?.detail, { from: 'None', to: 'Production', archived_version: 1 });
  t.like((await store.trialsOf(SHA2))[0], { modelName: 'fraud', version: 2, outcome: 'passed' });
  t.deepEqual(await store.changesSince(0), { lastId: 4, models: ['fraud'] });

  // Numbering and the audit ids go on; the aliases' foreign key and the rules still hold.
  const v3 = await store.createVersion(
    { modelName: 'fraud', sha256: SHA1, sizeBytes: 123, signature: SIGNATURE, lineage: LINEAGE, description: '', tags: {} },
    'carol',
  );
  t.is(v3.version, 3);
  t.like(await store.transitionStage('fraud', 3, 'Production', true, undefined, 'carol'), { stage: 'Production' });
  t.like(await store.getVersion('fraud', 2), { stage: 'Archived', aliases: [] });
  await t.throwsAsync(store.deleteVersion('fraud', 1, 'carol'), { message: /while 'champion' points at it/ });
  t.is(await store.artifactUsers(SHA1), 2);
  t.deepEqual(
    (await store.audit('', 4, 100)).map((a) => [a.id, a.action]),
    [
      [5, 'create_version'],
      [6, 'transition_stage'],
    ],
  );
}

/** Opens the registry the way a server does, runs fn, closes it. */
async function withStore(options: { dataDir: string; url?: string }, fn: (store: RegistryStore) => Promise<void>): Promise<void> {
  const { store, artifacts } = await openStores({ ...options, maxUploadBytes: 1 << 20 });
  try {
    await fn(store);
  } finally {
    await artifacts.close();
    await store.close();
  }
}

test('[postgres] a registry made by the old code opens and keeps its models, versions, aliases, audit and trials', async (t) => {
  const db = await POSTGRES.create();
  try {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query(OLD_POSTGRES_SCHEMA);
    await c.query(oldRows('quiver_'));
    const tables = 'SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename';
    const before = (await c.query<{ tablename: string }>(tables)).rows;
    await c.end();
    const dataDir = tmp('quiver-migrate-pg-');
    await withStore({ dataDir, url: db.url }, (store) => checkKeptAndWritable(t, store));
    // Opening again (the schema step is idempotent) finds it all still there, in the same tables.
    await withStore({ dataDir, url: db.url }, async (store) => {
      t.is((await store.getModel('fraud'))?.latestVersion, 3);
      t.is((await store.audit('', 0, 100)).length, 6);
    });
    const after = new pg.Client({ connectionString: db.url });
    await after.connect();
    // The same tables, and the evaluations', the prediction log's and the rollouts', which the old code did not have.
    t.deepEqual(
      (await after.query<{ tablename: string }>(tables)).rows,
      [
        ...before,
        ...['quiver_evaluations', 'quiver_predictions', 'quiver_rollout_tallies', 'quiver_rollouts'].map((tablename) => ({ tablename })),
      ].sort((a, b) => a.tablename.localeCompare(b.tablename)),
    );
    await after.end();
  } finally {
    await db.drop();
  }
});

test('[sqlite] a registry made with the old table names opens under the shared names and keeps everything', async (t) => {
  const dataDir = tmp('quiver-migrate-sqlite-');
  const path = join(dataDir, 'registry.db');
  const old = new Database(path);
  old.pragma('journal_mode = WAL');
  old.pragma('foreign_keys = ON');
  old.exec(OLD_SQLITE_SCHEMA);
  old.exec(oldRows(''));
  // A deleted audit row: AUTOINCREMENT must not hand its id out again after the rename.
  old.exec("INSERT INTO audit (at, actor, action, model_name) VALUES ('2024-01-03T00:00:00.000Z', 'x', 'gone', 'other')");
  old.exec('DELETE FROM audit WHERE id = 5');
  old.close();

  await withStore({ dataDir }, async (store) => {
    t.is((await store.getModel('fraud'))?.latestVersion, 2);
    const v3 = await store.createVersion(
      { modelName: 'fraud', sha256: SHA1, sizeBytes: 1, signature: SIGNATURE, lineage: LINEAGE, description: '', tags: {} },
      'carol',
    );
    t.is(v3.version, 3);
    const newest = await store.audit('', 4, 10);
    t.deepEqual(
      newest.map((a) => a.id),
      [6],
    );
    await store.deleteVersion('fraud', 3, 'carol');
  });
  // Reopened: the rename ran once; the same rows, and the rules work on the renamed tables.
  await withStore({ dataDir }, async (store) => {
    t.deepEqual(
      (await store.audit('', 0, 100)).map((a) => a.action),
      ['create_model', 'create_version', 'create_version', 'transition_stage', 'create_version', 'delete_version'],
    );
  });

  const db = new Database(path);
  try {
    const names = db.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{
      type: string;
      name: string;
    }>;
    t.true(
      names.every((n) => n.name.startsWith('quiver_')),
      JSON.stringify(names),
    );
    t.deepEqual(
      names.filter((n) => n.type === 'index').map((n) => n.name),
      [
        'quiver_audit_model',
        'quiver_evaluations_version',
        'quiver_predictions_outcomes',
        'quiver_rollouts_model',
        'quiver_rollouts_running',
        'quiver_trials_sha256',
        'quiver_versions_sha256',
      ],
    );
    const ddl = (
      db.prepare("SELECT sql FROM sqlite_master WHERE name IN ('quiver_versions', 'quiver_aliases')").all() as Array<{ sql: string }>
    )
      .map((r) => r.sql)
      .join('\n');
    t.regex(ddl, /REFERENCES "?quiver_models"?\(name\)/);
    t.regex(ddl, /REFERENCES "?quiver_versions"?\(model_name, version\)/);
    t.deepEqual(db.pragma('foreign_key_check'), []);
    t.is(db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    db.close();
  }
  // The rest of what the old registry held, through a fresh copy of the same rows.
  const fresh = tmp('quiver-migrate-sqlite-');
  const again = new Database(join(fresh, 'registry.db'));
  again.exec(OLD_SQLITE_SCHEMA);
  again.exec(oldRows(''));
  again.close();
  await withStore({ dataDir: fresh }, (store) => checkKeptAndWritable(t, store));
});
