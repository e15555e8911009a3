/**
 * Where the prediction log's batches are written: in this thread for PostgreSQL (the driver's
 * work is asynchronous network I/O), on a thread of its own for SQLite (sqlite-log-writer.ts:
 * better-sqlite3 runs each statement, and each commit's fsync, on the thread that calls it).
 */
import type { LoggedPrediction, PredictionStore } from './prediction-store.js';

export interface LogWriter {
  /**
   * Writes the rows, then keeps the table within its bounds: about `maxRows` rows, and, when
   * `cutoffMs` is above 0, none logged before it.
   */
  write(rows: readonly LoggedPrediction[], cutoffMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Writes through the store's own connections. */
export function storeWriter(store: PredictionStore, maxRows: number): LogWriter {
  return {
    async write(rows, cutoffMs) {
      await store.insert(rows);
      await store.prune(maxRows, cutoffMs);
    },
    close: async () => undefined,
  };
}
