/**
 * Each version's evaluations on labelled data (quiver_evaluations): the Evaluation message as
 * JSON, curves included, recorded by quiver train (its holdout) and quiver evaluate (its test
 * data), read by the console and ListEvaluations. Recording one is a transaction with its
 * audit row, like every registry write.
 */
import { notFound } from '../core/errors.js';
import { Evaluation } from '../gen/quiver/v1/registry.js';
import { type EvaluationRow, toEvaluation } from './rows.js';
import { insertAuditRow } from './sql-store.js';
import type { Storage } from './storage.js';

export class EvaluationStore {
  constructor(private readonly storage: Storage) {}

  /** Records an evaluation of an existing version (audited as record_evaluation); returns it as stored. */
  add(name: string, version: number, evaluation: Evaluation, actor: string): Promise<Evaluation> {
    return this.storage.transaction(async (tx) => {
      // The model's row is held until commit (Dialect.lockRow), as the registry's writes hold it: a deletion waits.
      await tx.all(`SELECT name FROM quiver_models WHERE name = ?${this.storage.dialect.lockRow}`, [name]);
      const held = await tx.all('SELECT version FROM quiver_versions WHERE model_name = ? AND version = ?', [name, version]);
      if (held.length === 0) throw notFound(`model '${name}' has no version ${version}`);
      // The row's columns say whose and when; the document holds the rest.
      const document = Evaluation.toJSON({ ...evaluation, id: 0, modelName: '', version: 0, createdBy: '', createdAt: undefined });
      await tx.run(
        `INSERT INTO quiver_evaluations (model_name, version, evaluation, created_by, created_at) VALUES (?, ?, ?, ?, ${this.storage.dialect.now})`,
        [name, version, JSON.stringify(document), actor],
      );
      await insertAuditRow(tx, this.storage.dialect.now, {
        actor,
        action: 'record_evaluation',
        model: name,
        version,
        alias: null,
        detail: {
          dataset: evaluation.datasetName,
          rows: evaluation.rows,
          metrics: Object.fromEntries(evaluation.metrics),
        },
      });
      const rows = await tx.all<EvaluationRow>(
        'SELECT * FROM quiver_evaluations WHERE model_name = ? AND version = ? ORDER BY id DESC LIMIT 1',
        [name, version],
      );
      return toEvaluation(rows[0] as EvaluationRow);
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
