/**
 * The prediction log's table (quiver_predictions, in registry/schema.ts), in the registry's
 * database so that every replica's log and every replica's outcomes meet: sampled answers go
 * in, outcomes join them by id, and the live quality, the rollout checks and `quiver data
 * export` read them back. Written once over the registry's Storage (SQLite and PostgreSQL).
 */
import { SHADOW_ID_SUFFIX } from '../core/request-id.js';
import type { Param, Storage } from '../registry/storage.js';

export interface LoggedPrediction {
  readonly id: string;
  readonly modelName: string;
  readonly version: number;
  readonly prediction: number;
  /** The allowed features by name (JSON text), '{}' when none are kept. */
  readonly features: string;
  readonly atMs: number;
}

export interface OutcomeInput {
  readonly id: string;
  readonly outcome: number;
}

/** Per model version: its logged predictions that have an outcome, summed. */
export interface QualitySums {
  readonly modelName: string;
  readonly version: number;
  readonly samples: number;
  /** Predictions equal to their outcome (classifiers). */
  readonly correct: number;
  /** Sum of |prediction - outcome| and of its square (regressors). */
  readonly absErrorSum: number;
  readonly sqErrorSum: number;
}

export interface ExportRow {
  readonly seq: number;
  readonly version: number;
  readonly features: Readonly<Record<string, number>>;
  readonly outcome: number;
}

/**
 * Rows per statement, a power of two: multi-row statements cost one round trip (PostgreSQL)
 * and one prepared statement per size, so at most nine statement texts are ever prepared.
 */
const CHUNK = 256;

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  let at = 0;
  while (at < items.length) {
    let size = CHUNK;
    while (size > items.length - at) size >>= 1;
    out.push(items.slice(at, at + size));
    at += size;
  }
  return out;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/** The columns of a logged answer, in the order upsertSql() takes them. */
export const rowParams = (r: LoggedPrediction): Param[] => [r.id, r.modelName, r.version, r.prediction, r.features, r.atMs];

/** Logs `rows` answers; a repeated id replaces the earlier prediction (and forgets its outcome). */
export const upsertSql = (rows: number): string =>
  `INSERT INTO quiver_predictions (id, model_name, version, prediction, features, at_ms) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?)').join(', ')}
   ON CONFLICT (id) DO UPDATE SET model_name = excluded.model_name, version = excluded.version, prediction = excluded.prediction,
     features = excluded.features, at_ms = excluded.at_ms, outcome = NULL, outcome_at_ms = NULL`;

/**
 * Deletes the rows logged before a time (epoch ms). Rows go in about in time order, so this
 * deletes up to the first row (in insertion order) logged at or after it: a walk of the rows'
 * own order that stops there, where a filter on the time would scan the whole table.
 */
export const PRUNE_AGE_SQL = `DELETE FROM quiver_predictions WHERE seq < COALESCE(
  (SELECT seq FROM quiver_predictions WHERE at_ms >= ? ORDER BY seq LIMIT 1),
  (SELECT MAX(seq) + 1 FROM quiver_predictions))`;

/** Keeps about the newest N rows: sequence numbers only grow, and gaps only make the rows fewer. */
export const PRUNE_ROWS_SQL = 'DELETE FROM quiver_predictions WHERE seq <= (SELECT MAX(seq) FROM quiver_predictions) - ?';

export class PredictionStore {
  /**
   * @param sqlitePath the database file when it is SQLite: the log is then written by a
   *   thread of its own (sqlite-log-writer.ts), since SQLite's writes block the thread that runs them.
   */
  constructor(
    private readonly storage: Storage,
    readonly sqlitePath?: string,
  ) {}

  /** Logs answers; a repeated id replaces the earlier prediction (and forgets its outcome). */
  async insert(rows: readonly LoggedPrediction[]): Promise<void> {
    // The last answer of an id wins, also within one statement (PostgreSQL refuses to upsert a row twice).
    const latest = [...new Map(rows.map((r) => [r.id, r])).values()];
    await this.storage.transaction(async (tx) => {
      for (const chunk of chunks(latest)) await tx.run(upsertSql(chunk.length), chunk.flatMap(rowParams));
    });
  }

  /** Joins outcomes to their predictions; resolves with the ids that name no logged prediction. */
  async recordOutcomes(outcomes: readonly OutcomeInput[], atMs: number): Promise<string[]> {
    const latest = [...new Map(outcomes.map((o) => [o.id, o])).values()];
    const found = new Set<string>();
    await this.storage.transaction(async (tx) => {
      for (const chunk of chunks(latest)) {
        const params: Param[] = [atMs];
        // The answer's row, and a shadow candidate's answer to the same request (SHADOW_ID_SUFFIX), when one was logged.
        for (const o of chunk) params.push(o.id, o.outcome, `${o.id}${SHADOW_ID_SUFFIX}`, o.outcome);
        const rows = await tx.all<{ id: string }>(
          `UPDATE quiver_predictions SET outcome = o.column2, outcome_at_ms = ?
           FROM (VALUES ${chunk.map(() => '(?, CAST(? AS DOUBLE PRECISION)), (?, CAST(? AS DOUBLE PRECISION))').join(', ')}) AS o
           WHERE quiver_predictions.id = o.column1 RETURNING quiver_predictions.id`,
          params,
        );
        // A shadow's row alone (its caller's answer was not logged) still joins the outcome.
        for (const r of rows) found.add(r.id.endsWith(SHADOW_ID_SUFFIX) ? r.id.slice(0, -SHADOW_ID_SUFFIX.length) : r.id);
      }
    });
    return latest.filter((o) => !found.has(o.id)).map((o) => o.id);
  }

  /** Per model version, the predictions logged since `sinceMs` that have an outcome, summed. */
  async quality(sinceMs: number, modelName?: string): Promise<QualitySums[]> {
    const rows = await this.storage.all<Record<string, unknown>>(
      `SELECT model_name, version, COUNT(*) AS n,
         SUM(CASE WHEN prediction = outcome THEN 1 ELSE 0 END) AS correct,
         SUM(ABS(prediction - outcome)) AS abs_sum,
         SUM((prediction - outcome) * (prediction - outcome)) AS sq_sum
       FROM quiver_predictions WHERE outcome IS NOT NULL AND at_ms >= ?${modelName === undefined ? '' : ' AND model_name = ?'}
       GROUP BY model_name, version`,
      modelName === undefined ? [sinceMs] : [sinceMs, modelName],
    );
    return rows.map((r) => ({
      modelName: String(r.model_name),
      version: num(r.version),
      samples: num(r.n),
      correct: num(r.correct),
      absErrorSum: num(r.abs_sum),
      sqErrorSum: num(r.sq_sum),
    }));
  }

  /** Drops the rows older than `cutoffMs` and all but about the newest `maxRows`; resolves with how many went. */
  async prune(maxRows: number, cutoffMs: number): Promise<number> {
    return (await this.storage.run(PRUNE_AGE_SQL, [cutoffMs])) + (await this.storage.run(PRUNE_ROWS_SQL, [maxRows]));
  }

  /**
   * Rows logged since `sinceMs` that have an outcome, in log order after `afterSeq` (a page of
   * `limit`); a shadow's copies of requests are not rows of their own.
   */
  async exportRows(modelName: string, version: number | undefined, sinceMs: number, afterSeq: number, limit: number): Promise<ExportRow[]> {
    const rows = await this.storage.all<Record<string, unknown>>(
      `SELECT seq, version, features, outcome FROM quiver_predictions
       WHERE model_name = ?${version === undefined ? '' : ' AND version = ?'} AND outcome IS NOT NULL AND at_ms >= ? AND seq > ?
         AND id NOT LIKE '%${SHADOW_ID_SUFFIX}'
       ORDER BY seq LIMIT ?`,
      version === undefined ? [modelName, sinceMs, afterSeq, limit] : [modelName, version, sinceMs, afterSeq, limit],
    );
    return rows.map((r) => ({
      seq: num(r.seq),
      version: num(r.version),
      // JSON text from SQLite, already parsed from PostgreSQL's JSONB.
      features: (typeof r.features === 'string' ? JSON.parse(r.features) : r.features) as Record<string, number>,
      outcome: num(r.outcome),
    }));
  }

  /** How many predictions are logged (all models). */
  async count(): Promise<number> {
    return num((await this.storage.all<{ n: unknown }>('SELECT COUNT(*) AS n FROM quiver_predictions'))[0]?.n);
  }
}
