/** The registry's records, independent of storage and transport. */
import type { DType } from '../core/tensor.js';
import type { Evaluation, Lineage } from '../gen/quiver/v1/registry.js';

export type StageName = 'None' | 'Staging' | 'Production' | 'Archived';

/** The aliases behind the stages (MLflow moved from stages to aliases; stages are a view). */
export const STAGE_ALIASES = { Production: 'production', Staging: 'staging' } as const;

/** What a change listener gets when anything may have changed (a notification channel reconnected). */
export const CATCH_UP = '*';

export interface ModelRecord {
  readonly name: string;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly aliases: Readonly<Record<string, number>>;
  readonly latestVersion: number;
}

export interface TensorSpecRecord {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[] | null;
}

/** The ONNX signature the server read from the uploaded graph. */
export interface SignatureRecord {
  readonly inputs: readonly TensorSpecRecord[];
  readonly outputs: readonly TensorSpecRecord[];
  readonly featureNames: readonly string[] | null;
  readonly onnxMetadata: Readonly<Record<string, string>>;
}

export interface VersionRecord {
  readonly modelName: string;
  readonly version: number;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly signature: SignatureRecord;
  readonly lineage: Lineage;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly archived: boolean;
  readonly createdBy: string;
  readonly createdAt: Date;
  /** Every alias that points at this version, sorted. */
  readonly aliases: readonly string[];
  readonly stage: StageName;
}

export interface AuditRecord {
  readonly id: number;
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  readonly modelName: string;
  readonly version: number | null;
  readonly alias: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
}

/**
 * The outcome of a version's trial load (trial.ts), recorded in the registry so that other
 * replicas and later starts neither trial it again nor serve it untrialed.
 */
export interface TrialRecord {
  readonly modelName: string;
  readonly version: number;
  /** The artifact that was trialed. */
  readonly sha256: string;
  readonly outcome: 'passed' | 'failed';
  /** Why it failed (the trial's error message); '' for a pass. */
  readonly reason: string;
  readonly at: Date;
}

export interface NewVersion {
  readonly modelName: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly signature: SignatureRecord;
  readonly lineage: Lineage;
  readonly description: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Recorded with the version, in its transaction (quiver train's holdout evaluation). */
  readonly evaluation?: Evaluation;
}

export interface Patch {
  readonly description?: string | undefined;
  /** Merged into the existing tags; an empty value removes the tag. */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * Registry storage. Every write is one transaction together with its audit row. The
 * embedded default is SQLite; the interface is async so a network database fits behind it.
 */
export interface RegistryStore {
  close(): Promise<void>;
  /**
   * Runs fn while holding a lock named `key` that other processes sharing this registry also
   * respect (PostgreSQL: an advisory lock). Stores without cross-process locks run fn directly.
   */
  exclusive?<T>(key: string, fn: () => Promise<T>): Promise<T>;
  createModel(name: string, description: string, tags: Readonly<Record<string, string>>, actor: string): Promise<ModelRecord>;
  getModel(name: string): Promise<ModelRecord | undefined>;
  listModels(afterName: string, limit: number): Promise<ModelRecord[]>;
  updateModel(name: string, patch: Patch, actor: string): Promise<ModelRecord>;
  /** Creates the model too when it does not exist. Versions number 1, 2, 3 per model and are never reused. */
  createVersion(input: NewVersion, actor: string): Promise<VersionRecord>;
  getVersion(name: string, version: number): Promise<VersionRecord | undefined>;
  listVersions(name: string, stage: StageName | undefined, afterVersion: number, limit: number): Promise<VersionRecord[]>;
  updateVersion(name: string, version: number, patch: Patch, actor: string): Promise<VersionRecord>;
  deleteVersion(name: string, version: number, actor: string): Promise<void>;
  setAlias(name: string, alias: string, version: number, actor: string): Promise<VersionRecord>;
  deleteAlias(name: string, alias: string, actor: string): Promise<void>;
  transitionStage(
    name: string,
    version: number,
    stage: StageName,
    archiveExisting: boolean,
    description: string | undefined,
    actor: string,
  ): Promise<VersionRecord>;
  /** Entries after `afterId` in id order; newest first: entries before `afterId` (0: from the newest), descending. */
  audit(modelName: string, afterId: number, limit: number, newestFirst?: boolean): Promise<AuditRecord[]>;
  /** The newest audit id, and the models changed after `afterId` (for followers). */
  changesSince(afterId: number): Promise<{ lastId: number; models: string[] }>;
  /** How many versions (of any model) use this artifact. */
  artifactUsers(sha256: string): Promise<number>;
  /** Records a trial's outcome (replacing an earlier record of the same model, version and artifact). Writes no audit row. */
  recordTrial(trial: TrialRecord): Promise<void>;
  /** The recorded trials of this artifact (any model or version), newest first. */
  trialsOf(sha256: string): Promise<TrialRecord[]>;
}
