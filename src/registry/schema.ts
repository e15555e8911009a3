/**
 * The registry's tables, the same names and columns in SQLite and PostgreSQL; only the
 * column types of JSON, booleans, timestamps and the audit id differ. The names carry the
 * `quiver_` prefix because a PostgreSQL database may be shared with other applications (and
 * the PostgreSQL registry always had these names); SQLite registries created with the
 * un-prefixed names are renamed on open (sqlite-store.ts).
 *
 * quiver_evaluations holds each version's evaluations on labelled data (the Evaluation message
 * as JSON, curves included): quiver train's holdout and every quiver evaluate run.
 *
 * quiver_predictions is the prediction log (src/feedback/): sampled answers and the outcomes
 * that arrive for them, kept here so that every replica's log and every replica's outcomes
 * meet. Its times are epoch milliseconds, compared as numbers in both dialects. Its one
 * index besides the id's holds only the rows that have an outcome, so logging an answer
 * touches two B-trees (the rows, in insertion order, and the ids).
 *
 * quiver_rollouts holds every rollout (src/rollouts/): at most one running per model, its
 * split, step and last checks; quiver_rollout_tallies what each replica counted of each version
 * in a rollout, summed by the analysis.
 */

export interface ColumnTypes {
  /** A JSON document. */
  readonly json: string;
  readonly bool: string;
  readonly time: string;
  readonly bigint: string;
  /** The audit log's primary key: increasing, and an id is never reused. */
  readonly serial: string;
  /** A double-precision number. */
  readonly double: string;
}

export const registrySchema = (t: ColumnTypes): string => `
CREATE TABLE IF NOT EXISTS quiver_models (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  tags ${t.json} NOT NULL DEFAULT '{}',
  next_version INTEGER NOT NULL DEFAULT 1,
  created_at ${t.time} NOT NULL,
  updated_at ${t.time} NOT NULL
);
CREATE TABLE IF NOT EXISTS quiver_versions (
  model_name TEXT NOT NULL REFERENCES quiver_models(name),
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  size_bytes ${t.bigint} NOT NULL,
  signature ${t.json} NOT NULL,
  lineage ${t.json} NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  tags ${t.json} NOT NULL DEFAULT '{}',
  archived ${t.bool} NOT NULL DEFAULT FALSE,
  created_by TEXT NOT NULL,
  created_at ${t.time} NOT NULL,
  PRIMARY KEY (model_name, version)
);
CREATE INDEX IF NOT EXISTS quiver_versions_sha256 ON quiver_versions(sha256);
CREATE TABLE IF NOT EXISTS quiver_aliases (
  model_name TEXT NOT NULL,
  alias TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at ${t.time} NOT NULL,
  PRIMARY KEY (model_name, alias),
  FOREIGN KEY (model_name, version) REFERENCES quiver_versions(model_name, version)
);
CREATE TABLE IF NOT EXISTS quiver_audit (
  id ${t.serial},
  at ${t.time} NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  model_name TEXT NOT NULL,
  version INTEGER,
  alias TEXT,
  detail ${t.json} NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS quiver_audit_model ON quiver_audit(model_name, id);
CREATE TABLE IF NOT EXISTS quiver_trials (
  model_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed')),
  reason TEXT NOT NULL DEFAULT '',
  at ${t.time} NOT NULL,
  PRIMARY KEY (model_name, version, sha256)
);
CREATE INDEX IF NOT EXISTS quiver_trials_sha256 ON quiver_trials(sha256);
CREATE TABLE IF NOT EXISTS quiver_evaluations (
  id ${t.serial},
  model_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  evaluation ${t.json} NOT NULL,
  created_by TEXT NOT NULL,
  created_at ${t.time} NOT NULL
);
CREATE INDEX IF NOT EXISTS quiver_evaluations_version ON quiver_evaluations(model_name, version, id);
CREATE TABLE IF NOT EXISTS quiver_predictions (
  seq ${t.serial},
  id TEXT NOT NULL UNIQUE,
  model_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  prediction ${t.double} NOT NULL,
  features ${t.json} NOT NULL DEFAULT '{}',
  at_ms ${t.bigint} NOT NULL,
  outcome ${t.double},
  outcome_at_ms ${t.bigint}
);
CREATE INDEX IF NOT EXISTS quiver_predictions_outcomes ON quiver_predictions(model_name, version, at_ms) WHERE outcome IS NOT NULL;
CREATE TABLE IF NOT EXISTS quiver_rollouts (
  id ${t.serial},
  model_name TEXT NOT NULL,
  baseline_version INTEGER NOT NULL,
  candidate_version INTEGER NOT NULL,
  strategy TEXT NOT NULL CHECK (strategy IN ('shadow', 'canary')),
  policy ${t.json} NOT NULL,
  step INTEGER NOT NULL,
  weight ${t.double} NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running', 'promoted', 'rolled_back', 'aborted', 'failed')),
  started_at_ms ${t.bigint} NOT NULL,
  step_started_at_ms ${t.bigint} NOT NULL,
  updated_at_ms ${t.bigint} NOT NULL,
  checks ${t.json} NOT NULL DEFAULT '[]',
  reason TEXT NOT NULL DEFAULT '',
  actor TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS quiver_rollouts_running ON quiver_rollouts(model_name) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS quiver_rollouts_model ON quiver_rollouts(model_name, id);
CREATE TABLE IF NOT EXISTS quiver_rollout_tallies (
  rollout_id ${t.bigint} NOT NULL,
  replica TEXT NOT NULL,
  version INTEGER NOT NULL,
  requests ${t.bigint} NOT NULL,
  failures ${t.bigint} NOT NULL,
  latency ${t.json} NOT NULL,
  drifted INTEGER,
  compared ${t.bigint} NOT NULL DEFAULT 0,
  disagreed ${t.bigint} NOT NULL DEFAULT 0,
  updated_at_ms ${t.bigint} NOT NULL,
  PRIMARY KEY (rollout_id, replica, version)
);
`;
