/**
 * The embedded registry store: SQLite through better-sqlite3, in WAL mode with
 * synchronous=FULL (an acknowledged write survives a crash or power loss) and a busy
 * timeout (the CLI and servers may share one database file). Each write runs in one
 * IMMEDIATE transaction together with its audit row.
 */
import Database from 'better-sqlite3';

import { alreadyExists, isStorageFull, notFound, storageFailed, storageFull } from '../core/errors.js';
import { Lineage } from '../gen/quiver/v1/registry.js';
import { deletionRefused, mergeTags, stageOf } from './records.js';
import {
  type AuditRecord,
  type ModelRecord,
  type NewVersion,
  type Patch,
  type RegistryStore,
  STAGE_ALIASES,
  type SignatureRecord,
  type StageName,
  type TrialRecord,
  type VersionRecord,
} from './types.js';

const SCHEMA = `
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

interface ModelRow {
  name: string;
  description: string;
  tags: string;
  next_version: number;
  created_at: string;
  updated_at: string;
}

interface VersionRow {
  model_name: string;
  version: number;
  sha256: string;
  size_bytes: number;
  signature: string;
  lineage: string;
  description: string;
  tags: string;
  archived: number;
  created_by: string;
  created_at: string;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  model_name: string;
  version: number | null;
  alias: string | null;
  detail: string;
}

const now = (): string => new Date().toISOString();

export class SqliteRegistryStore implements RegistryStore {
  private readonly db: Database.Database;

  constructor(path: string) {
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('foreign_keys = ON');
      this.db.exec(SCHEMA);
    } catch (err) {
      throw storageFailed(`cannot open the registry database ${path}: ${(err as Error).message}`, err);
    }
  }

  /** Runs `fn` in an IMMEDIATE transaction (takes the write lock up front: no upgrade deadlocks). */
  private write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string') throw err;
      if (code.startsWith('SQLITE_BUSY')) throw storageFailed('the registry database is busy; retry', err);
      if (isStorageFull(err)) throw storageFull('the registry database is out of disk space', err);
      // The file or the disk under it failing; the driver's text goes to the log only.
      if (/^SQLITE_(IOERR|READONLY|CANTOPEN|CORRUPT|NOTADB)/.test(code))
        throw storageFailed('the registry database cannot be written', err);
      throw err;
    }
  }

  private auditRow(actor: string, action: string, model: string, version: number | null, alias: string | null, detail: object = {}): void {
    this.db
      .prepare('INSERT INTO audit (at, actor, action, model_name, version, alias, detail) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(now(), actor, action, model, version, alias, JSON.stringify(detail));
  }

  private aliasesOf(model: string): Record<string, number> {
    const rows = this.db.prepare('SELECT alias, version FROM aliases WHERE model_name = ? ORDER BY alias').all(model) as Array<{
      alias: string;
      version: number;
    }>;
    return Object.fromEntries(rows.map((r) => [r.alias, r.version]));
  }

  private modelRecord(row: ModelRow): ModelRecord {
    const latest = this.db.prepare('SELECT MAX(version) AS v FROM versions WHERE model_name = ?').get(row.name) as { v: number | null };
    return {
      name: row.name,
      description: row.description,
      tags: JSON.parse(row.tags) as Record<string, string>,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
      aliases: this.aliasesOf(row.name),
      latestVersion: latest.v ?? 0,
    };
  }

  private versionRecord(row: VersionRow): VersionRecord {
    const aliases = (
      this.db
        .prepare('SELECT alias FROM aliases WHERE model_name = ? AND version = ? ORDER BY alias')
        .all(row.model_name, row.version) as Array<{
        alias: string;
      }>
    ).map((r) => r.alias);
    return {
      modelName: row.model_name,
      version: row.version,
      sha256: row.sha256,
      sizeBytes: row.size_bytes,
      signature: JSON.parse(row.signature) as SignatureRecord,
      lineage: Lineage.fromJSON(JSON.parse(row.lineage)),
      description: row.description,
      tags: JSON.parse(row.tags) as Record<string, string>,
      archived: row.archived === 1,
      createdBy: row.created_by,
      createdAt: new Date(row.created_at),
      aliases,
      stage: stageOf(aliases, row.archived === 1),
    };
  }

  private modelRow(name: string): ModelRow | undefined {
    return this.db.prepare('SELECT * FROM models WHERE name = ?').get(name) as ModelRow | undefined;
  }

  private requireModel(name: string): ModelRow {
    const row = this.modelRow(name);
    if (row === undefined) throw notFound(`registered model '${name}' does not exist`);
    return row;
  }

  private versionRow(name: string, version: number): VersionRow | undefined {
    // Callers pass numbers; anything else (a lookup that reached an object's prototype) is no version.
    if (!Number.isSafeInteger(version)) return undefined;
    return this.db.prepare('SELECT * FROM versions WHERE model_name = ? AND version = ?').get(name, version) as VersionRow | undefined;
  }

  private requireVersion(name: string, version: number): VersionRow {
    this.requireModel(name);
    const row = this.versionRow(name, version);
    if (row === undefined) throw notFound(`model '${name}' has no version ${version}`);
    return row;
  }

  async close(): Promise<void> {
    this.db.close();
  }

  async createModel(name: string, description: string, tags: Readonly<Record<string, string>>, actor: string): Promise<ModelRecord> {
    return this.write(() => {
      if (this.modelRow(name) !== undefined) throw alreadyExists(`registered model '${name}' already exists`);
      const at = now();
      this.db
        .prepare('INSERT INTO models (name, description, tags, created_at, updated_at) VALUES (?, ?, ?, ?, ?)')
        .run(name, description, JSON.stringify(tags), at, at);
      this.auditRow(actor, 'create_model', name, null, null, { description, tags });
      return this.modelRecord(this.requireModel(name));
    });
  }

  async getModel(name: string): Promise<ModelRecord | undefined> {
    const row = this.modelRow(name);
    return row === undefined ? undefined : this.modelRecord(row);
  }

  async listModels(afterName: string, limit: number): Promise<ModelRecord[]> {
    const rows = this.db.prepare('SELECT * FROM models WHERE name > ? ORDER BY name LIMIT ?').all(afterName, limit) as ModelRow[];
    return rows.map((r) => this.modelRecord(r));
  }

  async updateModel(name: string, patch: Patch, actor: string): Promise<ModelRecord> {
    return this.write(() => {
      const row = this.requireModel(name);
      const tags = mergeTags(JSON.parse(row.tags) as Record<string, string>, patch.tags);
      const description = patch.description ?? row.description;
      this.db
        .prepare('UPDATE models SET description = ?, tags = ?, updated_at = ? WHERE name = ?')
        .run(description, JSON.stringify(tags), now(), name);
      this.auditRow(actor, 'update_model', name, null, null, { description: patch.description, tags: patch.tags });
      return this.modelRecord(this.requireModel(name));
    });
  }

  async createVersion(input: NewVersion, actor: string): Promise<VersionRecord> {
    return this.write(() => {
      const at = now();
      let model = this.modelRow(input.modelName);
      if (model === undefined) {
        this.db.prepare('INSERT INTO models (name, created_at, updated_at) VALUES (?, ?, ?)').run(input.modelName, at, at);
        this.auditRow(actor, 'create_model', input.modelName, null, null, { implicit: true });
        model = this.requireModel(input.modelName);
      }
      const version = model.next_version;
      this.db
        .prepare(
          `INSERT INTO versions (model_name, version, sha256, size_bytes, signature, lineage, description, tags, created_by, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          input.modelName,
          version,
          input.sha256,
          input.sizeBytes,
          JSON.stringify(input.signature),
          JSON.stringify(Lineage.toJSON(input.lineage)),
          input.description,
          JSON.stringify(input.tags),
          actor,
          at,
        );
      this.db.prepare('UPDATE models SET next_version = ?, updated_at = ? WHERE name = ?').run(version + 1, at, input.modelName);
      this.auditRow(actor, 'create_version', input.modelName, version, null, { sha256: input.sha256, size_bytes: input.sizeBytes });
      return this.versionRecord(this.requireVersion(input.modelName, version));
    });
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    const row = this.versionRow(name, version);
    return row === undefined ? undefined : this.versionRecord(row);
  }

  async listVersions(name: string, stage: StageName | undefined, afterVersion: number, limit: number): Promise<VersionRecord[]> {
    this.requireModel(name);
    const out: VersionRecord[] = [];
    let after = afterVersion;
    // Stages are derived, so filter in code; page through the table until the page is full.
    while (out.length < limit) {
      const rows = this.db
        .prepare('SELECT * FROM versions WHERE model_name = ? AND version > ? ORDER BY version LIMIT ?')
        .all(name, after, limit) as VersionRow[];
      if (rows.length === 0) break;
      for (const r of rows) {
        const rec = this.versionRecord(r);
        if (stage === undefined || rec.stage === stage) out.push(rec);
        if (out.length === limit) break;
      }
      after = (rows[rows.length - 1] as VersionRow).version;
    }
    return out;
  }

  async updateVersion(name: string, version: number, patch: Patch, actor: string): Promise<VersionRecord> {
    return this.write(() => {
      const row = this.requireVersion(name, version);
      const tags = mergeTags(JSON.parse(row.tags) as Record<string, string>, patch.tags);
      const description = patch.description ?? row.description;
      this.db
        .prepare('UPDATE versions SET description = ?, tags = ? WHERE model_name = ? AND version = ?')
        .run(description, JSON.stringify(tags), name, version);
      this.auditRow(actor, 'update_version', name, version, null, { description: patch.description, tags: patch.tags });
      return this.versionRecord(this.requireVersion(name, version));
    });
  }

  async deleteVersion(name: string, version: number, actor: string): Promise<void> {
    this.write(() => {
      this.requireVersion(name, version);
      const pointing = (
        this.db.prepare('SELECT alias FROM aliases WHERE model_name = ? AND version = ? ORDER BY alias').all(name, version) as Array<{
          alias: string;
        }>
      ).map((r) => r.alias);
      if (pointing.length > 0) throw deletionRefused(name, version, pointing);
      this.db.prepare('DELETE FROM versions WHERE model_name = ? AND version = ?').run(name, version);
      this.db.prepare('DELETE FROM trials WHERE model_name = ? AND version = ?').run(name, version);
      this.auditRow(actor, 'delete_version', name, version, null);
    });
  }

  async setAlias(name: string, alias: string, version: number, actor: string): Promise<VersionRecord> {
    return this.write(() => {
      this.requireVersion(name, version);
      const previous = this.db.prepare('SELECT version FROM aliases WHERE model_name = ? AND alias = ?').get(name, alias) as
        { version: number } | undefined;
      this.db
        .prepare(
          'INSERT INTO aliases (model_name, alias, version, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(model_name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at',
        )
        .run(name, alias, version, now());
      this.auditRow(actor, 'set_alias', name, version, alias, { previous: previous?.version ?? null });
      return this.versionRecord(this.requireVersion(name, version));
    });
  }

  async deleteAlias(name: string, alias: string, actor: string): Promise<void> {
    this.write(() => {
      this.requireModel(name);
      const previous = this.db.prepare('SELECT version FROM aliases WHERE model_name = ? AND alias = ?').get(name, alias) as
        { version: number } | undefined;
      if (previous === undefined) throw notFound(`model '${name}' has no alias '${alias}'`);
      this.db.prepare('DELETE FROM aliases WHERE model_name = ? AND alias = ?').run(name, alias);
      this.auditRow(actor, 'delete_alias', name, previous.version, alias);
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
    return this.write(() => {
      const row = this.requireVersion(name, version);
      const from = this.versionRecord(row).stage;
      const at = now();
      const dropStageAliases = (): void => {
        this.db
          .prepare('DELETE FROM aliases WHERE model_name = ? AND version = ? AND alias IN (?, ?)')
          .run(name, version, STAGE_ALIASES.Production, STAGE_ALIASES.Staging);
      };
      let archived: number | null = null;
      if (stage === 'Production' || stage === 'Staging') {
        const alias = STAGE_ALIASES[stage];
        const holder = this.db.prepare('SELECT version FROM aliases WHERE model_name = ? AND alias = ?').get(name, alias) as
          { version: number } | undefined;
        dropStageAliases();
        this.db
          .prepare(
            'INSERT INTO aliases (model_name, alias, version, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(model_name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at',
          )
          .run(name, alias, version, at);
        this.db.prepare('UPDATE versions SET archived = 0 WHERE model_name = ? AND version = ?').run(name, version);
        if (archiveExisting && holder !== undefined && holder.version !== version) {
          this.db.prepare('UPDATE versions SET archived = 1 WHERE model_name = ? AND version = ?').run(name, holder.version);
          archived = holder.version;
        }
      } else {
        dropStageAliases();
        this.db
          .prepare('UPDATE versions SET archived = ? WHERE model_name = ? AND version = ?')
          .run(stage === 'Archived' ? 1 : 0, name, version);
      }
      if (description !== undefined) {
        this.db.prepare('UPDATE versions SET description = ? WHERE model_name = ? AND version = ?').run(description, name, version);
      }
      this.auditRow(actor, 'transition_stage', name, version, null, { from, to: stage, archived_version: archived });
      return this.versionRecord(this.requireVersion(name, version));
    });
  }

  async audit(modelName: string, afterId: number, limit: number): Promise<AuditRecord[]> {
    const rows = (
      modelName === ''
        ? this.db.prepare('SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit)
        : this.db.prepare('SELECT * FROM audit WHERE model_name = ? AND id > ? ORDER BY id LIMIT ?').all(modelName, afterId, limit)
    ) as AuditRow[];
    return rows.map((r) => ({
      id: r.id,
      at: new Date(r.at),
      actor: r.actor,
      action: r.action,
      modelName: r.model_name,
      version: r.version,
      alias: r.alias,
      detail: JSON.parse(r.detail) as Record<string, unknown>,
    }));
  }

  async changesSince(afterId: number): Promise<{ lastId: number; models: string[] }> {
    const last = this.db.prepare('SELECT MAX(id) AS id FROM audit').get() as { id: number | null };
    const lastId = last.id ?? 0;
    if (lastId <= afterId) return { lastId, models: [] };
    const rows = this.db.prepare('SELECT DISTINCT model_name FROM audit WHERE id > ? AND id <= ?').all(afterId, lastId) as Array<{
      model_name: string;
    }>;
    return { lastId, models: rows.map((r) => r.model_name).sort() };
  }

  async artifactUsers(sha256: string): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM versions WHERE sha256 = ?').get(sha256) as { n: number }).n;
  }

  async recordTrial(trial: TrialRecord): Promise<void> {
    this.write(() => {
      this.db
        .prepare(
          `INSERT INTO trials (model_name, version, sha256, outcome, reason, at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(model_name, version, sha256) DO UPDATE SET outcome = excluded.outcome, reason = excluded.reason, at = excluded.at`,
        )
        .run(trial.modelName, trial.version, trial.sha256, trial.outcome, trial.reason, trial.at.toISOString());
    });
  }

  async trialsOf(sha256: string): Promise<TrialRecord[]> {
    const rows = this.db.prepare('SELECT * FROM trials WHERE sha256 = ? ORDER BY at DESC').all(sha256) as Array<{
      model_name: string;
      version: number;
      sha256: string;
      outcome: 'passed' | 'failed';
      reason: string;
      at: string;
    }>;
    return rows.map((r) => ({
      modelName: r.model_name,
      version: r.version,
      sha256: r.sha256,
      outcome: r.outcome,
      reason: r.reason,
      at: new Date(r.at),
    }));
  }

  /** For tests and operators: SQLite's own consistency check. */
  integrityCheck(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? 'unknown';
  }
}
