/**
 * Rollouts in the registry's database (quiver_rollouts, quiver_rollout_tallies), so that every
 * replica applies the same split and reads the same figures. Every change of a rollout's state
 * is one transaction with its audit row, which also tells the other replicas (NOTIFY on
 * PostgreSQL, the audit poll on SQLite) to re-read the model within the second, as a promotion
 * does. A transition is conditional on the state it moves from, so when several replicas reach
 * the same verdict at once, exactly one of them writes it.
 */
import { alreadyExists, notFound } from '../core/errors.js';
import { insertAuditRow } from '../registry/audit-row.js';
import type { Storage, Transaction } from '../registry/storage.js';
import type { CheckResult } from './analysis.js';
import type { RolloutPolicy, RolloutRecord, RolloutState, RolloutStrategy, TallyRecord } from './types.js';

export interface NewRollout {
  readonly modelName: string;
  readonly baselineVersion: number;
  readonly candidateVersion: number;
  readonly strategy: RolloutStrategy;
  readonly policy: RolloutPolicy;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v);

function toRollout(r: Record<string, unknown>): RolloutRecord {
  return {
    id: num(r.id),
    modelName: String(r.model_name),
    baselineVersion: num(r.baseline_version),
    candidateVersion: num(r.candidate_version),
    strategy: r.strategy as RolloutStrategy,
    policy: json(r.policy) as RolloutPolicy,
    step: num(r.step),
    weight: num(r.weight),
    state: r.state as RolloutState,
    startedAt: new Date(num(r.started_at_ms)),
    stepStartedAt: new Date(num(r.step_started_at_ms)),
    updatedAt: new Date(num(r.updated_at_ms)),
    checks: json(r.checks) as CheckResult[],
    reason: String(r.reason ?? ''),
    actor: String(r.actor),
  };
}

/** The figures an audit row keeps of the checks: name, verdict and the two figures. */
const auditChecks = (checks: readonly CheckResult[]): object[] =>
  checks.map((c) => ({
    name: c.name,
    status: c.status,
    baseline: c.baseline,
    candidate: c.candidate,
    p_value: c.pValue,
    detail: c.detail,
  }));

export class RolloutStore {
  constructor(private readonly storage: Storage) {}

  private get now(): string {
    return this.storage.dialect.now;
  }

  private async row(q: Pick<Transaction, 'all'>, sql: string, params: Array<string | number>): Promise<RolloutRecord | undefined> {
    const r = (await q.all<Record<string, unknown>>(sql, params))[0];
    return r === undefined ? undefined : toRollout(r);
  }

  /** Starts a rollout; refused while the model has one running. */
  start(r: NewRollout, actor: string): Promise<RolloutRecord> {
    return this.storage.transaction(async (tx) => {
      // The model's row, locked where the dialect locks rows: starts of one model run one at a time.
      const model = await tx.all(`SELECT name FROM quiver_models WHERE name = ?${this.storage.dialect.lockRow}`, [r.modelName]);
      if (model.length === 0) throw notFound(`registered model '${r.modelName}' does not exist`);
      const running = await this.row(tx, "SELECT * FROM quiver_rollouts WHERE model_name = ? AND state = 'running'", [r.modelName]);
      if (running !== undefined)
        throw alreadyExists(
          `model '${r.modelName}' already has a rollout running (version ${running.candidateVersion}, ${running.strategy}): promote or abort it first`,
        );
      // The tallies of the model's earlier rollouts are read no more (their figures stay in the audit rows).
      await tx.run('DELETE FROM quiver_rollout_tallies WHERE rollout_id IN (SELECT id FROM quiver_rollouts WHERE model_name = ?)', [
        r.modelName,
      ]);
      const at = Date.now();
      const weight = r.policy.steps[0] ?? 0;
      await tx.run(
        `INSERT INTO quiver_rollouts (model_name, baseline_version, candidate_version, strategy, policy, step, weight, state,
           started_at_ms, step_started_at_ms, updated_at_ms, actor)
         VALUES (?, ?, ?, ?, ?, 0, ?, 'running', ?, ?, ?, ?)`,
        [r.modelName, r.baselineVersion, r.candidateVersion, r.strategy, JSON.stringify(r.policy), weight, at, at, at, actor],
      );
      await insertAuditRow(tx, this.now, {
        actor,
        action: 'rollout_start',
        model: r.modelName,
        version: r.candidateVersion,
        alias: null,
        detail: { strategy: r.strategy, baseline_version: r.baselineVersion, weight, policy: r.policy },
      });
      return (await this.row(tx, "SELECT * FROM quiver_rollouts WHERE model_name = ? AND state = 'running'", [
        r.modelName,
      ])) as RolloutRecord;
    });
  }

  running(modelName: string): Promise<RolloutRecord | undefined> {
    return this.row(this.storage, "SELECT * FROM quiver_rollouts WHERE model_name = ? AND state = 'running'", [modelName]);
  }

  /** The model's newest rollout, running or not. */
  latest(modelName: string): Promise<RolloutRecord | undefined> {
    return this.row(this.storage, 'SELECT * FROM quiver_rollouts WHERE model_name = ? ORDER BY id DESC LIMIT 1', [modelName]);
  }

  /** The newest rollout of every model that has had one, by model name. */
  async newestOfEachModel(): Promise<RolloutRecord[]> {
    const rows = await this.storage.all<Record<string, unknown>>(
      'SELECT * FROM quiver_rollouts r WHERE r.id = (SELECT MAX(n.id) FROM quiver_rollouts n WHERE n.model_name = r.model_name) ORDER BY r.model_name',
    );
    return rows.map(toRollout);
  }

  /** Every running rollout. */
  async allRunning(): Promise<RolloutRecord[]> {
    return (await this.storage.all<Record<string, unknown>>("SELECT * FROM quiver_rollouts WHERE state = 'running' ORDER BY id")).map(
      toRollout,
    );
  }

  /** Moves a running rollout from step `from` to the next; false when another replica already did. */
  advance(r: RolloutRecord, checks: readonly CheckResult[], actor: string): Promise<boolean> {
    const to = r.step + 1;
    const weight = r.policy.steps[to] ?? 100;
    return this.storage.transaction(async (tx) => {
      const at = Date.now();
      const changed = await tx.run(
        `UPDATE quiver_rollouts SET step = ?, weight = ?, step_started_at_ms = ?, updated_at_ms = ?, checks = ?
         WHERE id = ? AND state = 'running' AND step = ?`,
        [to, weight, at, at, JSON.stringify(checks), r.id, r.step],
      );
      if (changed === 0) return false;
      await insertAuditRow(tx, this.now, {
        actor,
        action: 'rollout_step',
        model: r.modelName,
        version: r.candidateVersion,
        alias: null,
        detail: { step: to, weight, checks: auditChecks(checks) },
      });
      return true;
    });
  }

  /**
   * Ends a running rollout (promoted, rolled_back, aborted or failed) with its reason and
   * figures; false when it was not running any more (another replica ended it).
   */
  finish(
    r: RolloutRecord,
    state: Exclude<RolloutState, 'running'>,
    reason: string,
    checks: readonly CheckResult[],
    actor: string,
  ): Promise<boolean> {
    const weight = state === 'promoted' ? 100 : 0;
    return this.storage.transaction(async (tx) => {
      const changed = await tx.run(
        `UPDATE quiver_rollouts SET state = ?, weight = ?, reason = ?, checks = ?, updated_at_ms = ? WHERE id = ? AND state = 'running'`,
        [state, weight, reason, JSON.stringify(checks), Date.now(), r.id],
      );
      if (changed === 0) return false;
      await insertAuditRow(tx, this.now, {
        actor,
        action: `rollout_${state === 'rolled_back' ? 'rollback' : state === 'promoted' ? 'promote' : state === 'aborted' ? 'abort' : 'fail'}`,
        model: r.modelName,
        version: r.candidateVersion,
        alias: null,
        detail: { reason, baseline_version: r.baselineVersion, step: r.step, weight: r.weight, checks: auditChecks(checks) },
      });
      return true;
    });
  }

  /** A promotion the registry then refused: the rollout ends as failed, with why. */
  async markFailed(id: number, reason: string): Promise<void> {
    await this.storage.run("UPDATE quiver_rollouts SET state = 'failed', weight = 0, reason = ?, updated_at_ms = ? WHERE id = ?", [
      reason,
      Date.now(),
      id,
    ]);
  }

  /** Keeps the last analysis' figures on the rollout (for status), without an audit row. */
  async saveChecks(id: number, checks: readonly CheckResult[]): Promise<void> {
    await this.storage.run("UPDATE quiver_rollouts SET checks = ?, updated_at_ms = ? WHERE id = ? AND state = 'running'", [
      JSON.stringify(checks),
      Date.now(),
      id,
    ]);
  }

  /**
   * This replica's tally of a version in a rollout, replacing its previous one; only while the
   * rollout runs (a replica slow to hear that it ended adds nothing after it).
   */
  async saveTally(rolloutId: number, t: TallyRecord): Promise<void> {
    await this.storage.run(
      `INSERT INTO quiver_rollout_tallies (rollout_id, replica, version, requests, failures, latency, drifted, compared, disagreed, updated_at_ms)
       SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM quiver_rollouts WHERE id = ? AND state = 'running')
       ON CONFLICT (rollout_id, replica, version) DO UPDATE SET requests = excluded.requests, failures = excluded.failures,
         latency = excluded.latency, drifted = excluded.drifted, compared = excluded.compared, disagreed = excluded.disagreed,
         updated_at_ms = excluded.updated_at_ms`,
      [
        rolloutId,
        t.replica,
        t.version,
        t.requests,
        t.failures,
        JSON.stringify(t.latency),
        t.drifted === null ? null : t.drifted ? 1 : 0,
        t.compared,
        t.disagreed,
        Date.now(),
        rolloutId,
      ],
    );
  }

  /** Every replica's tallies of a rollout. */
  async tallies(rolloutId: number): Promise<TallyRecord[]> {
    const rows = await this.storage.all<Record<string, unknown>>('SELECT * FROM quiver_rollout_tallies WHERE rollout_id = ?', [rolloutId]);
    return rows.map((r) => ({
      replica: String(r.replica),
      version: num(r.version),
      requests: num(r.requests),
      failures: num(r.failures),
      latency: json(r.latency),
      drifted: r.drifted === null || r.drifted === undefined ? null : num(r.drifted) === 1,
      compared: num(r.compared),
      disagreed: num(r.disagreed),
    }));
  }

  /** Drops the tallies of rollouts that ended (they are only read while one runs). */
  async dropTallies(rolloutId: number): Promise<void> {
    await this.storage.run('DELETE FROM quiver_rollout_tallies WHERE rollout_id = ?', [rolloutId]);
  }
}
