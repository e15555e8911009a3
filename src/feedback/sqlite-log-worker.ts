/**
 * The SQLite prediction log's writer thread: its own connection to the registry's database
 * file (WAL, so the server's connection keeps reading meanwhile), one transaction per batch,
 * then the pruning. synchronous=NORMAL: in WAL mode a crash loses no committed batch, and a
 * power loss at most the last ones, which a sampled log can spare; the registry's own
 * connection stays FULL.
 */
import { parentPort, workerData } from 'node:worker_threads';

import Database from 'better-sqlite3';

import { PRUNE_AGE_SQL, PRUNE_ROWS_SQL, rowParams, upsertSql, type LoggedPrediction } from './prediction-store.js';

export interface LogWorkerData {
  readonly path: string;
  readonly maxRows: number;
}

export interface LogWorkerRequest {
  readonly seq: number;
  readonly rows: readonly LoggedPrediction[];
  readonly cutoffMs: number;
}

export interface LogWorkerReply {
  readonly seq: number;
  /** The error's message when the batch was not written. */
  readonly error?: string;
}

const { path, maxRows } = workerData as LogWorkerData;
const db = new Database(path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('busy_timeout = 5000');
const upsert = db.prepare(upsertSql(1));
const pruneAge = db.prepare(PRUNE_AGE_SQL);
const pruneRows = db.prepare(PRUNE_ROWS_SQL);
const writeBatch = db.transaction((rows: readonly LoggedPrediction[]) => {
  for (const r of rows) upsert.run(...rowParams(r));
});

parentPort?.on('message', (req: LogWorkerRequest) => {
  let error: string | undefined;
  try {
    writeBatch.immediate(req.rows);
    if (req.cutoffMs > 0) pruneAge.run(req.cutoffMs);
    pruneRows.run(maxRows);
  } catch (err) {
    error = (err as Error).message;
  }
  parentPort?.postMessage({ seq: req.seq, ...(error === undefined ? {} : { error }) } satisfies LogWorkerReply);
});
