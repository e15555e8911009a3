/** The one way a registry write records itself: the audit row, and the change notice it sends. */
import type { Transaction } from './storage.js';

/**
 * Writes an audit row in the write transaction `tx` and tells the other processes sharing the
 * database that the model changed (the followers re-read it). `now` is the dialect's time.
 * The registry's writes, the evaluations' (evaluation-store.ts) and the rollouts'
 * (src/rollouts/rollout-store.ts) all audit through it.
 */
export async function insertAuditRow(
  tx: Transaction,
  now: string,
  row: { actor: string; action: string; model: string; version: number | null; alias: string | null; detail: object },
): Promise<void> {
  await tx.run(`INSERT INTO quiver_audit (at, actor, action, model_name, version, alias, detail) VALUES (${now}, ?, ?, ?, ?, ?, ?)`, [
    row.actor,
    row.action,
    row.model,
    row.version,
    row.alias,
    JSON.stringify(row.detail),
  ]);
  await tx.changed(row.model);
}
