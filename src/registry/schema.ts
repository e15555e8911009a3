/**
 * The registry's tables, the same names and columns in SQLite and PostgreSQL; only the
 * column types of JSON, booleans, timestamps and the audit id differ. The names carry the
 * `quiver_` prefix because a PostgreSQL database may be shared with other applications (and
 * the PostgreSQL registry always had these names); SQLite registries created with the
 * un-prefixed names are renamed on open (sqlite-store.ts).
 */

export interface ColumnTypes {
  /** A JSON document. */
  readonly json: string;
  readonly bool: string;
  readonly time: string;
  readonly bigint: string;
  /** The audit log's primary key: increasing, and an id is never reused. */
  readonly serial: string;
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
`;
