/**
 * The registry on PostgreSQL (`pg`), for replicas that share one registry. Same behaviour as
 * the SQLite store (the registry test suite runs against both): every write is one
 * transaction with its audit row, and it also sends NOTIFY quiver_registry with the model's
 * name, delivered on commit, so every replica's follower hears of a promotion at once.
 */
import pg from 'pg';

import { alreadyExists, isStorageFull, notFound, storageFailed, storageFull } from '../core/errors.js';
import { Lineage } from '../gen/quiver/v1/registry.js';
import { deletionRefused, mergeTags, stageOf } from './records.js';
import {
  type AuditRecord,
  CATCH_UP,
  type ModelRecord,
  type NewVersion,
  type Patch,
  type RegistryStore,
  type SignatureRecord,
  STAGE_ALIASES,
  type StageName,
  type TrialRecord,
  type VersionRecord,
} from './types.js';

export const NOTIFY_CHANNEL = 'quiver_registry';

const SCHEMA = `
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

/** A commit may land out of id order across concurrent writers: the poll looks this far back. */
const POLL_LOOKBACK = 1000;

interface VersionRow {
  model_name: string;
  version: number;
  sha256: string;
  size_bytes: string;
  signature: SignatureRecord;
  lineage: unknown;
  description: string;
  tags: Record<string, string>;
  archived: boolean;
  created_by: string;
  created_at: Date;
}

type Q = Pick<pg.PoolClient, 'query'>;

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

export class PgRegistryStore implements RegistryStore {
  private constructor(readonly pool: pg.Pool) {}

  /** Connects and creates the schema (under an advisory lock: replicas may start together). */
  static async open(url: string): Promise<PgRegistryStore> {
    // Opening a connection (a backend forked, then a SCRAM handshake) takes milliseconds, but
    // over 15 s has been seen on an overloaded host; the limit is only there so that a database
    // that never answers fails the call (a refused or reset connection fails at once).
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 30_000 });
    pool.on('error', () => undefined); // idle-client errors surface on the next query instead
    const store = new PgRegistryStore(pool);
    try {
      await store.tx(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock(hashtext('quiver_registry_schema'))");
        await c.query(SCHEMA);
      });
    } catch (err) {
      await pool.end();
      throw storageFailed(`cannot open the registry database: ${(err as Error).message}`, err);
    }
    return store;
  }

  async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const client = await this.pool.connect().catch((err: unknown) => {
      throw mapError(err);
    });
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [`quiver:${key}`]);
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`quiver:${key}`]);
      }
    } finally {
      client.release();
    }
  }

  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapError(err);
    }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw mapError(err);
    } finally {
      client.release();
    }
  }

  private async q<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], c?: Q): Promise<R[]> {
    try {
      return (await (c ?? this.pool).query<R>(text, values)).rows;
    } catch (err) {
      throw mapError(err);
    }
  }

  private async audit_(
    c: Q,
    actor: string,
    action: string,
    model: string,
    version: number | null,
    alias: string | null,
    detail: object = {},
  ): Promise<void> {
    await c.query(
      'INSERT INTO quiver_audit (at, actor, action, model_name, version, alias, detail) VALUES (now(), $1, $2, $3, $4, $5, $6)',
      [actor, action, model, version, alias, JSON.stringify(detail)],
    );
    await c.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, model]);
  }

  private async modelRecord(name: string, c?: Q): Promise<ModelRecord | undefined> {
    const rows = await this.q<{
      name: string;
      description: string;
      tags: Record<string, string>;
      created_at: Date;
      updated_at: Date;
      latest: number | null;
    }>(
      'SELECT m.*, (SELECT MAX(version) FROM quiver_versions v WHERE v.model_name = m.name) AS latest FROM quiver_models m WHERE name = $1',
      [name],
      c,
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    const aliases = await this.q<{ alias: string; version: number }>(
      'SELECT alias, version FROM quiver_aliases WHERE model_name = $1 ORDER BY alias',
      [name],
      c,
    );
    return {
      name: row.name,
      description: row.description,
      tags: row.tags,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      aliases: Object.fromEntries(aliases.map((a) => [a.alias, a.version])),
      latestVersion: row.latest ?? 0,
    };
  }

  private async versionRecord(row: VersionRow, c?: Q): Promise<VersionRecord> {
    const aliases = (
      await this.q<{ alias: string }>(
        'SELECT alias FROM quiver_aliases WHERE model_name = $1 AND version = $2 ORDER BY alias',
        [row.model_name, row.version],
        c,
      )
    ).map((r) => r.alias);
    return {
      modelName: row.model_name,
      version: row.version,
      sha256: row.sha256,
      sizeBytes: Number(row.size_bytes),
      signature: row.signature,
      lineage: Lineage.fromJSON(row.lineage),
      description: row.description,
      tags: row.tags,
      archived: row.archived,
      createdBy: row.created_by,
      createdAt: row.created_at,
      aliases,
      stage: stageOf(aliases, row.archived),
    };
  }

  private async requireModel(
    c: Q,
    name: string,
    lock = false,
  ): Promise<{ next_version: number; description: string; tags: Record<string, string> }> {
    const rows = await this.q<{ next_version: number; description: string; tags: Record<string, string> }>(
      `SELECT next_version, description, tags FROM quiver_models WHERE name = $1${lock ? ' FOR UPDATE' : ''}`,
      [name],
      c,
    );
    if (rows[0] === undefined) throw notFound(`registered model '${name}' does not exist`);
    return rows[0];
  }

  private async versionRow(name: string, version: number, c?: Q): Promise<VersionRow | undefined> {
    // Callers pass numbers; anything else (a lookup that reached an object's prototype) is no version.
    if (!Number.isSafeInteger(version) || Math.abs(version) > 2 ** 31 - 1) return undefined;
    return (await this.q<VersionRow>('SELECT * FROM quiver_versions WHERE model_name = $1 AND version = $2', [name, version], c))[0];
  }

  private async requireVersion(c: Q, name: string, version: number, lockModel = false): Promise<VersionRow> {
    await this.requireModel(c, name, lockModel);
    const row = await this.versionRow(name, version, c);
    if (row === undefined) throw notFound(`model '${name}' has no version ${version}`);
    return row;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async createModel(name: string, description: string, tags: Readonly<Record<string, string>>, actor: string): Promise<ModelRecord> {
    return this.tx(async (c) => {
      const inserted = await c.query(
        'INSERT INTO quiver_models (name, description, tags, created_at, updated_at) VALUES ($1, $2, $3, now(), now()) ON CONFLICT DO NOTHING',
        [name, description, JSON.stringify(tags)],
      );
      if (inserted.rowCount === 0) throw alreadyExists(`registered model '${name}' already exists`);
      await this.audit_(c, actor, 'create_model', name, null, null, { description, tags });
      return (await this.modelRecord(name, c)) as ModelRecord;
    });
  }

  async getModel(name: string): Promise<ModelRecord | undefined> {
    return this.modelRecord(name);
  }

  async listModels(afterName: string, limit: number): Promise<ModelRecord[]> {
    const rows = await this.q<{ name: string }>('SELECT name FROM quiver_models WHERE name > $1 ORDER BY name LIMIT $2', [
      afterName,
      limit,
    ]);
    const out: ModelRecord[] = [];
    for (const r of rows) {
      const m = await this.modelRecord(r.name);
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  async updateModel(name: string, patch: Patch, actor: string): Promise<ModelRecord> {
    return this.tx(async (c) => {
      const row = await this.requireModel(c, name, true);
      await c.query('UPDATE quiver_models SET description = $1, tags = $2, updated_at = now() WHERE name = $3', [
        patch.description ?? row.description,
        JSON.stringify(mergeTags(row.tags, patch.tags)),
        name,
      ]);
      await this.audit_(c, actor, 'update_model', name, null, null, { description: patch.description, tags: patch.tags });
      return (await this.modelRecord(name, c)) as ModelRecord;
    });
  }

  async createVersion(input: NewVersion, actor: string): Promise<VersionRecord> {
    return this.tx(async (c) => {
      const created = await c.query(
        'INSERT INTO quiver_models (name, created_at, updated_at) VALUES ($1, now(), now()) ON CONFLICT DO NOTHING',
        [input.modelName],
      );
      if (created.rowCount === 1) await this.audit_(c, actor, 'create_model', input.modelName, null, null, { implicit: true });
      // The row lock serializes version numbering per model across replicas.
      const { next_version: version } = await this.requireModel(c, input.modelName, true);
      await c.query(
        `INSERT INTO quiver_versions (model_name, version, sha256, size_bytes, signature, lineage, description, tags, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())`,
        [
          input.modelName,
          version,
          input.sha256,
          input.sizeBytes,
          JSON.stringify(input.signature),
          JSON.stringify(Lineage.toJSON(input.lineage)),
          input.description,
          JSON.stringify(input.tags),
          actor,
        ],
      );
      await c.query('UPDATE quiver_models SET next_version = $1, updated_at = now() WHERE name = $2', [version + 1, input.modelName]);
      await this.audit_(c, actor, 'create_version', input.modelName, version, null, { sha256: input.sha256, size_bytes: input.sizeBytes });
      return this.versionRecord((await this.versionRow(input.modelName, version, c)) as VersionRow, c);
    });
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    const row = await this.versionRow(name, version);
    return row === undefined ? undefined : this.versionRecord(row);
  }

  async listVersions(name: string, stage: StageName | undefined, afterVersion: number, limit: number): Promise<VersionRecord[]> {
    if ((await this.q('SELECT 1 FROM quiver_models WHERE name = $1', [name])).length === 0)
      throw notFound(`registered model '${name}' does not exist`);
    const out: VersionRecord[] = [];
    let after = afterVersion;
    while (out.length < limit) {
      const rows = await this.q<VersionRow>(
        'SELECT * FROM quiver_versions WHERE model_name = $1 AND version > $2 ORDER BY version LIMIT $3',
        [name, after, limit],
      );
      if (rows.length === 0) break;
      for (const r of rows) {
        const rec = await this.versionRecord(r);
        if (stage === undefined || rec.stage === stage) out.push(rec);
        if (out.length === limit) break;
      }
      after = (rows[rows.length - 1] as VersionRow).version;
    }
    return out;
  }

  async updateVersion(name: string, version: number, patch: Patch, actor: string): Promise<VersionRecord> {
    return this.tx(async (c) => {
      const row = await this.requireVersion(c, name, version, true);
      await c.query('UPDATE quiver_versions SET description = $1, tags = $2 WHERE model_name = $3 AND version = $4', [
        patch.description ?? row.description,
        JSON.stringify(mergeTags(row.tags, patch.tags)),
        name,
        version,
      ]);
      await this.audit_(c, actor, 'update_version', name, version, null, { description: patch.description, tags: patch.tags });
      return this.versionRecord((await this.versionRow(name, version, c)) as VersionRow, c);
    });
  }

  async deleteVersion(name: string, version: number, actor: string): Promise<void> {
    await this.tx(async (c) => {
      await this.requireVersion(c, name, version, true);
      const pointing = (
        await this.q<{ alias: string }>(
          'SELECT alias FROM quiver_aliases WHERE model_name = $1 AND version = $2 ORDER BY alias',
          [name, version],
          c,
        )
      ).map((r) => r.alias);
      if (pointing.length > 0) throw deletionRefused(name, version, pointing);
      await c.query('DELETE FROM quiver_versions WHERE model_name = $1 AND version = $2', [name, version]);
      await c.query('DELETE FROM quiver_trials WHERE model_name = $1 AND version = $2', [name, version]);
      await this.audit_(c, actor, 'delete_version', name, version, null);
    });
  }

  private async upsertAlias(c: Q, name: string, alias: string, version: number): Promise<void> {
    await c.query(
      `INSERT INTO quiver_aliases (model_name, alias, version, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (model_name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      [name, alias, version],
    );
  }

  async setAlias(name: string, alias: string, version: number, actor: string): Promise<VersionRecord> {
    return this.tx(async (c) => {
      await this.requireVersion(c, name, version, true);
      const previous = (
        await this.q<{ version: number }>('SELECT version FROM quiver_aliases WHERE model_name = $1 AND alias = $2', [name, alias], c)
      )[0];
      await this.upsertAlias(c, name, alias, version);
      await this.audit_(c, actor, 'set_alias', name, version, alias, { previous: previous?.version ?? null });
      return this.versionRecord((await this.versionRow(name, version, c)) as VersionRow, c);
    });
  }

  async deleteAlias(name: string, alias: string, actor: string): Promise<void> {
    await this.tx(async (c) => {
      await this.requireModel(c, name, true);
      const previous = (
        await this.q<{ version: number }>('SELECT version FROM quiver_aliases WHERE model_name = $1 AND alias = $2', [name, alias], c)
      )[0];
      if (previous === undefined) throw notFound(`model '${name}' has no alias '${alias}'`);
      await c.query('DELETE FROM quiver_aliases WHERE model_name = $1 AND alias = $2', [name, alias]);
      await this.audit_(c, actor, 'delete_alias', name, previous.version, alias);
    });
  }

  async transitionStage(
    name: string,
    version: number,
    stage: StageName,
    archiveExisting: boolean,
    description: string | undefined,
    actor: string,
  ): Promise<VersionRecord> {
    return this.tx(async (c) => {
      // Locking the model row serializes transitions of one model: exactly one Production.
      const row = await this.requireVersion(c, name, version, true);
      const from = (await this.versionRecord(row, c)).stage;
      const dropStageAliases = (): Promise<unknown> =>
        c.query('DELETE FROM quiver_aliases WHERE model_name = $1 AND version = $2 AND alias IN ($3, $4)', [
          name,
          version,
          STAGE_ALIASES.Production,
          STAGE_ALIASES.Staging,
        ]);
      let archived: number | null = null;
      if (stage === 'Production' || stage === 'Staging') {
        const alias = STAGE_ALIASES[stage];
        const holder = (
          await this.q<{ version: number }>('SELECT version FROM quiver_aliases WHERE model_name = $1 AND alias = $2', [name, alias], c)
        )[0];
        await dropStageAliases();
        await this.upsertAlias(c, name, alias, version);
        await c.query('UPDATE quiver_versions SET archived = FALSE WHERE model_name = $1 AND version = $2', [name, version]);
        if (archiveExisting && holder !== undefined && holder.version !== version) {
          await c.query('UPDATE quiver_versions SET archived = TRUE WHERE model_name = $1 AND version = $2', [name, holder.version]);
          archived = holder.version;
        }
      } else {
        await dropStageAliases();
        await c.query('UPDATE quiver_versions SET archived = $1 WHERE model_name = $2 AND version = $3', [
          stage === 'Archived',
          name,
          version,
        ]);
      }
      if (description !== undefined)
        await c.query('UPDATE quiver_versions SET description = $1 WHERE model_name = $2 AND version = $3', [description, name, version]);
      await this.audit_(c, actor, 'transition_stage', name, version, null, { from, to: stage, archived_version: archived });
      return this.versionRecord((await this.versionRow(name, version, c)) as VersionRow, c);
    });
  }

  async audit(modelName: string, afterId: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.q<{
      id: string;
      at: Date;
      actor: string;
      action: string;
      model_name: string;
      version: number | null;
      alias: string | null;
      detail: Record<string, unknown>;
    }>(
      modelName === ''
        ? 'SELECT * FROM quiver_audit WHERE id > $1 ORDER BY id LIMIT $2'
        : 'SELECT * FROM quiver_audit WHERE model_name = $3 AND id > $1 ORDER BY id LIMIT $2',
      modelName === '' ? [afterId, limit] : [afterId, limit, modelName],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: r.at,
      actor: r.actor,
      action: r.action,
      modelName: r.model_name,
      version: r.version,
      alias: r.alias,
      detail: r.detail,
    }));
  }

  async changesSince(afterId: number): Promise<{ lastId: number; models: string[] }> {
    const last = Number((await this.q<{ id: string | null }>('SELECT MAX(id) AS id FROM quiver_audit'))[0]?.id ?? 0);
    if (last <= afterId) return { lastId: last, models: [] };
    const rows = await this.q<{ model_name: string }>('SELECT DISTINCT model_name FROM quiver_audit WHERE id > $1 AND id <= $2', [
      Math.max(0, afterId - POLL_LOOKBACK),
      last,
    ]);
    return { lastId: last, models: rows.map((r) => r.model_name).sort() };
  }

  async artifactUsers(sha256: string): Promise<number> {
    return Number((await this.q<{ n: string }>('SELECT COUNT(*) AS n FROM quiver_versions WHERE sha256 = $1', [sha256]))[0]?.n ?? 0);
  }

  async recordTrial(trial: TrialRecord): Promise<void> {
    await this.q(
      `INSERT INTO quiver_trials (model_name, version, sha256, outcome, reason, at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (model_name, version, sha256) DO UPDATE SET outcome = excluded.outcome, reason = excluded.reason, at = excluded.at`,
      [trial.modelName, trial.version, trial.sha256, trial.outcome, trial.reason, trial.at],
    );
  }

  async trialsOf(sha256: string): Promise<TrialRecord[]> {
    const rows = await this.q<{
      model_name: string;
      version: number;
      sha256: string;
      outcome: 'passed' | 'failed';
      reason: string;
      at: Date;
    }>('SELECT * FROM quiver_trials WHERE sha256 = $1 ORDER BY at DESC', [sha256]);
    return rows.map((r) => ({
      modelName: r.model_name,
      version: r.version,
      sha256: r.sha256,
      outcome: r.outcome,
      reason: r.reason,
      at: r.at,
    }));
  }

  /**
   * Calls `listener` with the model's name whenever any replica commits a change to it
   * (LISTEN/NOTIFY on a connection of its own, reconnecting after failures).
   */
  subscribe(url: string, listener: (model: string) => void, onError: (err: Error) => void): () => void {
    let stopped = false;
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    const connect = (): void => {
      if (stopped) return;
      const c = new pg.Client({ connectionString: url });
      client = c;
      const reconnect = (err: Error): void => {
        onError(err);
        c.removeAllListeners();
        c.end().catch(() => undefined);
        if (!stopped) retry = setTimeout(connect, 1000);
      };
      c.on('error', reconnect);
      c.on('notification', (n) => {
        if (n.channel === NOTIFY_CHANNEL && n.payload !== undefined) listener(n.payload);
      });
      c.connect()
        .then(() => c.query(`LISTEN ${NOTIFY_CHANNEL}`))
        // Listening (again): changes made while it was not are caught up by the listener.
        .then(() => listener(CATCH_UP))
        .catch(reconnect);
    };
    connect();
    return () => {
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      client?.removeAllListeners();
      client?.end().catch(() => undefined);
    };
  }
}
