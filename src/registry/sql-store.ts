/**
 * The registry's rules, written once over a SQL storage (storage.ts) that SQLite and
 * PostgreSQL implement: models, versions numbered per model and never reused, aliases, the
 * stage view and its transitions, deletion, the audit log, trials and the changes feed. Every
 * write is one transaction together with its audit row; in a write transaction the model's row
 * is read first and, where the dialect locks rows, held until commit, which serializes the
 * writes of one model across replicas.
 */
import { alreadyExists, notFound } from '../core/errors.js';
import { Lineage } from '../gen/quiver/v1/registry.js';
import { insertAuditRow } from './audit-row.js';
import { insertEvaluationRow } from './evaluation-store.js';
import { deletionRefused, mergeTags } from './records.js';
import { type AuditRow, type ModelRow, tagsOf, toAudit, toModel, toTrial, toVersion, type TrialRow, type VersionRow } from './rows.js';
import type { Statements, Storage, Transaction } from './storage.js';
import {
  type AuditRecord,
  type ModelRecord,
  type NewVersion,
  type Patch,
  type RegistryStore,
  STAGE_ALIASES,
  type StageName,
  type TrialRecord,
  type VersionRecord,
} from './types.js';

/** A model's row with its newest version's number. */
const MODEL_SELECT =
  'SELECT m.*, (SELECT MAX(v.version) FROM quiver_versions v WHERE v.model_name = m.name) AS latest FROM quiver_models m';

/** The largest version number the INTEGER column holds (PostgreSQL refuses a larger parameter). */
const MAX_VERSION = 2 ** 31 - 1;

export class SqlRegistryStore implements RegistryStore {
  readonly exclusive?: RegistryStore['exclusive'];

  constructor(readonly storage: Storage) {
    if (storage.exclusive !== undefined) this.exclusive = storage.exclusive.bind(storage);
  }

  private get now(): string {
    return this.storage.dialect.now;
  }

  private auditRow(
    tx: Transaction,
    actor: string,
    action: string,
    model: string,
    version: number | null,
    alias: string | null,
    detail: object = {},
  ): Promise<void> {
    return insertAuditRow(tx, this.now, { actor, action, model, version, alias, detail });
  }

  private async modelRecord(q: Statements, row: ModelRow): Promise<ModelRecord> {
    const aliases = await q.all<{ alias: string; version: number }>(
      'SELECT alias, version FROM quiver_aliases WHERE model_name = ? ORDER BY alias',
      [row.name],
    );
    return toModel(row, aliases);
  }

  private async model(q: Statements, name: string): Promise<ModelRecord | undefined> {
    const row = (await q.all<ModelRow>(`${MODEL_SELECT} WHERE m.name = ?`, [name]))[0];
    return row === undefined ? undefined : this.modelRecord(q, row);
  }

  private async aliasesAt(q: Statements, name: string, version: number): Promise<string[]> {
    const rows = await q.all<{ alias: string }>('SELECT alias FROM quiver_aliases WHERE model_name = ? AND version = ? ORDER BY alias', [
      name,
      version,
    ]);
    return rows.map((r) => r.alias);
  }

  private async versionRecord(q: Statements, row: VersionRow): Promise<VersionRecord> {
    return toVersion(row, await this.aliasesAt(q, row.model_name, row.version));
  }

  private async versionRow(q: Statements, name: string, version: number): Promise<VersionRow | undefined> {
    // Callers pass numbers; anything else (a lookup that reached an object's prototype) is no version.
    if (!Number.isSafeInteger(version) || Math.abs(version) > MAX_VERSION) return undefined;
    return (await q.all<VersionRow>('SELECT * FROM quiver_versions WHERE model_name = ? AND version = ?', [name, version]))[0];
  }

  /** The model's row in a write transaction, locked until commit (see Dialect.lockRow). */
  private async requireModel(tx: Transaction, name: string): Promise<Pick<ModelRow, 'next_version' | 'description' | 'tags'>> {
    const rows = await tx.all<Pick<ModelRow, 'next_version' | 'description' | 'tags'>>(
      `SELECT next_version, description, tags FROM quiver_models WHERE name = ?${this.storage.dialect.lockRow}`,
      [name],
    );
    if (rows[0] === undefined) throw notFound(`registered model '${name}' does not exist`);
    return rows[0];
  }

  private async requireVersion(tx: Transaction, name: string, version: number): Promise<VersionRow> {
    await this.requireModel(tx, name);
    const row = await this.versionRow(tx, name, version);
    if (row === undefined) throw notFound(`model '${name}' has no version ${version}`);
    return row;
  }

  /** The version as it is now, in the transaction (after a write). */
  private async reread(tx: Transaction, name: string, version: number): Promise<VersionRecord> {
    return this.versionRecord(tx, (await this.versionRow(tx, name, version)) as VersionRow);
  }

  private async aliasHolder(tx: Transaction, name: string, alias: string): Promise<number | undefined> {
    return (await tx.all<{ version: number }>('SELECT version FROM quiver_aliases WHERE model_name = ? AND alias = ?', [name, alias]))[0]
      ?.version;
  }

  private async upsertAlias(tx: Transaction, name: string, alias: string, version: number): Promise<void> {
    await tx.run(
      `INSERT INTO quiver_aliases (model_name, alias, version, updated_at) VALUES (?, ?, ?, ${this.now})
       ON CONFLICT (model_name, alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
      [name, alias, version],
    );
  }

  private async setArchived(tx: Transaction, name: string, version: number, archived: boolean): Promise<void> {
    await tx.run('UPDATE quiver_versions SET archived = ? WHERE model_name = ? AND version = ?', [archived, name, version]);
  }

  close(): Promise<void> {
    return this.storage.close();
  }

  createModel(name: string, description: string, tags: Readonly<Record<string, string>>, actor: string): Promise<ModelRecord> {
    return this.storage.transaction(async (tx) => {
      // Inserted unless present, rather than looked up first: two replicas may create the same name at once.
      const inserted = await tx.run(
        `INSERT INTO quiver_models (name, description, tags, created_at, updated_at) VALUES (?, ?, ?, ${this.now}, ${this.now}) ON CONFLICT DO NOTHING`,
        [name, description, JSON.stringify(tags)],
      );
      if (inserted === 0) throw alreadyExists(`registered model '${name}' already exists`);
      await this.auditRow(tx, actor, 'create_model', name, null, null, { description, tags });
      return (await this.model(tx, name)) as ModelRecord;
    });
  }

  getModel(name: string): Promise<ModelRecord | undefined> {
    return this.model(this.storage, name);
  }

  async listModels(afterName: string, limit: number): Promise<ModelRecord[]> {
    const rows = await this.storage.all<ModelRow>(`${MODEL_SELECT} WHERE m.name > ? ORDER BY m.name LIMIT ?`, [afterName, limit]);
    const out: ModelRecord[] = [];
    for (const row of rows) out.push(await this.modelRecord(this.storage, row));
    return out;
  }

  updateModel(name: string, patch: Patch, actor: string): Promise<ModelRecord> {
    return this.storage.transaction(async (tx) => {
      const row = await this.requireModel(tx, name);
      await tx.run(`UPDATE quiver_models SET description = ?, tags = ?, updated_at = ${this.now} WHERE name = ?`, [
        patch.description ?? row.description,
        JSON.stringify(mergeTags(tagsOf(row), patch.tags)),
        name,
      ]);
      await this.auditRow(tx, actor, 'update_model', name, null, null, { description: patch.description, tags: patch.tags });
      return (await this.model(tx, name)) as ModelRecord;
    });
  }

  createVersion(input: NewVersion, actor: string): Promise<VersionRecord> {
    return this.storage.transaction(async (tx) => {
      const name = input.modelName;
      const created = await tx.run(
        `INSERT INTO quiver_models (name, created_at, updated_at) VALUES (?, ${this.now}, ${this.now}) ON CONFLICT DO NOTHING`,
        [name],
      );
      if (created === 1) await this.auditRow(tx, actor, 'create_model', name, null, null, { implicit: true });
      // The model's row (locked) numbers the versions: one number per version, never reused.
      const { next_version: version } = await this.requireModel(tx, name);
      await tx.run(
        `INSERT INTO quiver_versions (model_name, version, sha256, size_bytes, signature, lineage, description, tags, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ${this.now})`,
        [
          name,
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
      await tx.run(`UPDATE quiver_models SET next_version = ?, updated_at = ${this.now} WHERE name = ?`, [version + 1, name]);
      await this.auditRow(tx, actor, 'create_version', name, version, null, { sha256: input.sha256, size_bytes: input.sizeBytes });
      if (input.evaluation !== undefined)
        await insertEvaluationRow(tx, this.now, { model: name, version, evaluation: input.evaluation, actor });
      return this.reread(tx, name, version);
    });
  }

  async getVersion(name: string, version: number): Promise<VersionRecord | undefined> {
    const row = await this.versionRow(this.storage, name, version);
    return row === undefined ? undefined : this.versionRecord(this.storage, row);
  }

  async listVersions(name: string, stage: StageName | undefined, afterVersion: number, limit: number): Promise<VersionRecord[]> {
    const q = this.storage;
    if ((await q.all('SELECT 1 FROM quiver_models WHERE name = ?', [name])).length === 0)
      throw notFound(`registered model '${name}' does not exist`);
    const out: VersionRecord[] = [];
    let after = afterVersion;
    // Stages are derived, so filter in code; page through the table until the page is full.
    while (out.length < limit) {
      const rows = await q.all<VersionRow>('SELECT * FROM quiver_versions WHERE model_name = ? AND version > ? ORDER BY version LIMIT ?', [
        name,
        after,
        limit,
      ]);
      if (rows.length === 0) break;
      for (const r of rows) {
        const rec = await this.versionRecord(q, r);
        if (stage === undefined || rec.stage === stage) out.push(rec);
        if (out.length === limit) break;
      }
      after = (rows[rows.length - 1] as VersionRow).version;
    }
    return out;
  }

  updateVersion(name: string, version: number, patch: Patch, actor: string): Promise<VersionRecord> {
    return this.storage.transaction(async (tx) => {
      const row = await this.requireVersion(tx, name, version);
      await tx.run('UPDATE quiver_versions SET description = ?, tags = ? WHERE model_name = ? AND version = ?', [
        patch.description ?? row.description,
        JSON.stringify(mergeTags(tagsOf(row), patch.tags)),
        name,
        version,
      ]);
      await this.auditRow(tx, actor, 'update_version', name, version, null, { description: patch.description, tags: patch.tags });
      return this.reread(tx, name, version);
    });
  }

  async deleteVersion(name: string, version: number, actor: string): Promise<void> {
    await this.storage.transaction(async (tx) => {
      await this.requireVersion(tx, name, version);
      const pointing = await this.aliasesAt(tx, name, version);
      if (pointing.length > 0) throw deletionRefused(name, version, pointing);
      await tx.run('DELETE FROM quiver_versions WHERE model_name = ? AND version = ?', [name, version]);
      await tx.run('DELETE FROM quiver_trials WHERE model_name = ? AND version = ?', [name, version]);
      await tx.run('DELETE FROM quiver_evaluations WHERE model_name = ? AND version = ?', [name, version]);
      await this.auditRow(tx, actor, 'delete_version', name, version, null);
    });
  }

  setAlias(name: string, alias: string, version: number, actor: string): Promise<VersionRecord> {
    return this.storage.transaction(async (tx) => {
      await this.requireVersion(tx, name, version);
      const previous = await this.aliasHolder(tx, name, alias);
      await this.upsertAlias(tx, name, alias, version);
      await this.auditRow(tx, actor, 'set_alias', name, version, alias, { previous: previous ?? null });
      return this.reread(tx, name, version);
    });
  }

  async deleteAlias(name: string, alias: string, actor: string): Promise<void> {
    await this.storage.transaction(async (tx) => {
      await this.requireModel(tx, name);
      const previous = await this.aliasHolder(tx, name, alias);
      if (previous === undefined) throw notFound(`model '${name}' has no alias '${alias}'`);
      await tx.run('DELETE FROM quiver_aliases WHERE model_name = ? AND alias = ?', [name, alias]);
      await this.auditRow(tx, actor, 'delete_alias', name, previous, alias);
    });
  }

  transitionStage(
    name: string,
    version: number,
    stage: StageName,
    archiveExisting: boolean,
    description: string | undefined,
    actor: string,
  ): Promise<VersionRecord> {
    return this.storage.transaction(async (tx) => {
      // The model's row is held (requireVersion): transitions of one model run one at a time, so there is exactly one Production.
      const from = (await this.versionRecord(tx, await this.requireVersion(tx, name, version))).stage;
      const dropStageAliases = (): Promise<number> =>
        tx.run('DELETE FROM quiver_aliases WHERE model_name = ? AND version = ? AND alias IN (?, ?)', [
          name,
          version,
          STAGE_ALIASES.Production,
          STAGE_ALIASES.Staging,
        ]);
      let archived: number | null = null;
      if (stage === 'Production' || stage === 'Staging') {
        const alias = STAGE_ALIASES[stage];
        const holder = await this.aliasHolder(tx, name, alias);
        await dropStageAliases();
        await this.upsertAlias(tx, name, alias, version);
        await this.setArchived(tx, name, version, false);
        if (archiveExisting && holder !== undefined && holder !== version) {
          await this.setArchived(tx, name, holder, true);
          archived = holder;
        }
      } else {
        await dropStageAliases();
        await this.setArchived(tx, name, version, stage === 'Archived');
      }
      if (description !== undefined)
        await tx.run('UPDATE quiver_versions SET description = ? WHERE model_name = ? AND version = ?', [description, name, version]);
      await this.auditRow(tx, actor, 'transition_stage', name, version, null, { from, to: stage, archived_version: archived });
      return this.reread(tx, name, version);
    });
  }

  async audit(modelName: string, afterId: number, limit: number, newestFirst = false): Promise<AuditRecord[]> {
    // Newest first pages downwards from the token's id (0: from the top).
    const [bound, order] = newestFirst ? [afterId === 0 ? 'id > 0' : 'id < ?', 'DESC'] : ['id > ?', 'ASC'];
    const params = newestFirst && afterId === 0 ? [] : [afterId];
    const rows = await (modelName === ''
      ? this.storage.all<AuditRow>(`SELECT * FROM quiver_audit WHERE ${bound} ORDER BY id ${order} LIMIT ?`, [...params, limit])
      : this.storage.all<AuditRow>(`SELECT * FROM quiver_audit WHERE model_name = ? AND ${bound} ORDER BY id ${order} LIMIT ?`, [
          modelName,
          ...params,
          limit,
        ]));
    return rows.map(toAudit);
  }

  async changesSince(afterId: number): Promise<{ lastId: number; models: string[] }> {
    const lastId = Number((await this.storage.all<{ id: number | string | null }>('SELECT MAX(id) AS id FROM quiver_audit'))[0]?.id ?? 0);
    if (lastId <= afterId) return { lastId, models: [] };
    const rows = await this.storage.all<{ model_name: string }>('SELECT DISTINCT model_name FROM quiver_audit WHERE id > ? AND id <= ?', [
      Math.max(0, afterId - this.storage.dialect.idLookback),
      lastId,
    ]);
    return { lastId, models: rows.map((r) => r.model_name).sort() };
  }

  async artifactUsers(sha256: string): Promise<number> {
    return Number(
      (await this.storage.all<{ n: number | string }>('SELECT COUNT(*) AS n FROM quiver_versions WHERE sha256 = ?', [sha256]))[0]?.n ?? 0,
    );
  }

  async recordTrial(trial: TrialRecord): Promise<void> {
    await this.storage.transaction((tx) =>
      tx.run(
        `INSERT INTO quiver_trials (model_name, version, sha256, outcome, reason, at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (model_name, version, sha256) DO UPDATE SET outcome = excluded.outcome, reason = excluded.reason, at = excluded.at`,
        [trial.modelName, trial.version, trial.sha256, trial.outcome, trial.reason, trial.at],
      ),
    );
  }

  async trialsOf(sha256: string): Promise<TrialRecord[]> {
    return (await this.storage.all<TrialRow>('SELECT * FROM quiver_trials WHERE sha256 = ? ORDER BY at DESC', [sha256])).map(toTrial);
  }
}
