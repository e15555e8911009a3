/**
 * Each version's evaluations on labelled data (quiver_evaluations): the Evaluation message as
 * JSON, curves included, recorded by quiver train (its holdout) and quiver evaluate (its test
 * data), read by the console and ListEvaluations. Recording one is a transaction with its
 * audit row, like every registry write.
 */
import { notFound } from '../core/errors.js';
import { Evaluation } from '../gen/quiver/v1/registry.js';
import { type EvaluationRow, toEvaluation } from './rows.js';
import { insertAuditRow } from './audit-row.js';
import type { Storage, Transaction } from './storage.js';

/**
 * Records an evaluation of a version in the write transaction `tx`, with its audit row
 * (record_evaluation); returns it as stored. The version's creation and evaluation-store.ts use it.
 */
export async function insertEvaluationRow(
  tx: Transaction,
  now: string,
  row: { model: string; version: number; evaluation: Evaluation; actor: string },
): Promise<Evaluation> {
  const { model, version, evaluation, actor } = row;
  // The row's columns say whose and when; the document holds the rest.
  const document = Evaluation.toJSON({ ...evaluation, id: 0, modelName: '', version: 0, createdBy: '', createdAt: undefined });
  await tx.run(`INSERT INTO quiver_evaluations (model_name, version, evaluation, created_by, created_at) VALUES (?, ?, ?, ?, ${now})`, [
    model,
    version,
    JSON.stringify(document),
    actor,
  ]);
  const metrics = Object.fromEntries(evaluation.metrics);
  await insertAuditRow(tx, now, {
    actor,
    action: 'record_evaluation',
    model,
    version,
    alias: null,
    detail: { dataset: evaluation.datasetName, rows: evaluation.rows, metrics },
  });
  const rows = await tx.all<EvaluationRow>(
    'SELECT * FROM quiver_evaluations WHERE model_name = ? AND version = ? ORDER BY id DESC LIMIT 1',
    [model, version],
  );
  return toEvaluation(rows[0] as EvaluationRow);
}

export class EvaluationStore {
  constructor(private readonly storage: Storage) {}

  /** Records an evaluation of an existing version (audited as record_evaluation); returns it as stored. */
  add(name: string, version: number, evaluation: Evaluation, actor: string): Promise<Evaluation> {
    return this.storage.transaction(async (tx) => {
      // The model's row is held until commit (Dialect.lockRow), as the registry's writes hold it: a deletion waits.
      await tx.all(`SELECT name FROM quiver_models WHERE name = ?${this.storage.dialect.lockRow}`, [name]);
      const held = await tx.all('SELECT version FROM quiver_versions WHERE model_name = ? AND version = ?', [name, version]);
      if (held.length === 0) throw notFound(`model '${name}' has no version ${version}`);
      return insertEvaluationRow(tx, this.storage.dialect.now, { model: name, version, evaluation, actor });
    });
  }

  /** A version's evaluations, newest first. */
  async list(name: string, version: number): Promise<Evaluation[]> {
    const rows = await this.storage.all<EvaluationRow>(
      'SELECT * FROM quiver_evaluations WHERE model_name = ? AND version = ? ORDER BY id DESC',
      [name, version],
    );
    return rows.map(toEvaluation);
  }
}
