/**
 * The trial gate: before a version becomes Production or Staging or gets an alias, and before a
 * server loads it into its own process, it must pass a trial load in a child process (trial.ts)
 * unless trial loads are turned off. Trial outcomes are recorded in the store, so other
 * processes and later starts do not trial the same version again; a recorded failure refuses
 * the version even with trial loads off.
 */
import { QuiverError, toQuiverError } from '../core/errors.js';
import type { ArtifactBackend } from './artifacts.js';
import { type TrialLimits, trialLoad } from './trial.js';
import type { RegistryStore, TrialRecord, VersionRecord } from './types.js';

export interface TrialGateOptions {
  /** Trial-load a version in a child process before it is promoted (default true). */
  readonly trialLoad?: boolean;
  /** The trial's wall-time limit, ms (default 30000). */
  readonly trialTimeoutMs?: number;
  /** The trial's resident-memory limit, MiB (default 2048). */
  readonly trialMaxMemoryMb?: number;
}

/** The trial's limits, or undefined when trial loads are off. */
export const trialLimits = (o: TrialGateOptions): TrialLimits | undefined =>
  o.trialLoad === false ? undefined : { timeoutMs: o.trialTimeoutMs ?? 30_000, maxMemoryMb: o.trialMaxMemoryMb ?? 2048 };

/**
 * A version refused because its trial load failed, now or as recorded in the registry: final
 * for that version (its artifact never changes), so callers need not try again.
 */
export class TrialRefused extends QuiverError {
  constructor(
    message: string,
    readonly trial: TrialRecord,
  ) {
    super('QUIVER_ERR_MODEL_LOAD', message);
  }
}

export class TrialGate {
  /** Admissions in progress by model, version and artifact, so concurrent callers share one trial. */
  private readonly trialRunning = new Map<string, Promise<void>>();
  private trialCount = 0;

  constructor(
    private readonly store: RegistryStore,
    private readonly artifacts: ArtifactBackend,
    /** Undefined when trial loads are off. */
    private readonly limits: TrialLimits | undefined,
  ) {}

  /** Trial processes this gate started (versions with a recorded trial start none). */
  get trialsRun(): number {
    return this.trialCount;
  }

  /**
   * Whether a version may run in a server's process, by its recorded trial: a recorded failure
   * of this version refuses it at once (TrialRefused), trial loads on or off; a recorded pass of
   * its artifact (under this or any other version: the same bytes, the same fixed session
   * options) admits it. With nothing recorded, the trial runs now and its outcome is recorded,
   * unless trial loads are off, which admits the version untrialed. Rejects with TrialRefused
   * when the trial fails, and with the cause (UNAVAILABLE, a storage error), recording nothing,
   * when no verdict could be reached (no trial process, the artifact unreadable).
   */
  async admit(v: VersionRecord): Promise<void> {
    const key = `${v.modelName}/${v.version}/${v.sha256}`;
    let running = this.trialRunning.get(key);
    if (running === undefined) {
      running = this.admitNow(v).finally(() => this.trialRunning.delete(key));
      this.trialRunning.set(key, running);
    }
    await running;
  }

  /** The recorded trial of this version, if any (its artifact's pass under another version not included). */
  async recordedTrial(v: VersionRecord): Promise<TrialRecord | undefined> {
    return (await this.store.trialsOf(v.sha256)).find((r) => r.modelName === v.modelName && r.version === v.version);
  }

  private async admitNow(v: VersionRecord): Promise<void> {
    const recorded = await this.store.trialsOf(v.sha256);
    const own = recorded.find((r) => r.modelName === v.modelName && r.version === v.version);
    if (own?.outcome === 'failed') throw new TrialRefused(own.reason, own);
    if (recorded.some((r) => r.outcome === 'passed')) return;
    if (this.limits === undefined) return;
    await this.runTrial(v, this.limits);
  }

  private async runTrial(v: VersionRecord, limits: TrialLimits): Promise<void> {
    let path: string;
    try {
      path = await this.artifacts.localPath(v.sha256);
    } catch (err) {
      // A missing or corrupted artifact (or its store down) cannot be promoted either.
      const e = toQuiverError(err);
      throw new QuiverError(e.code, `trial load of model '${v.modelName}' version ${v.version}: ${e.message}`, { cause: err });
    }
    this.trialCount++;
    const outcome = (ok: boolean, reason: string): TrialRecord => ({
      modelName: v.modelName,
      version: v.version,
      sha256: v.sha256,
      outcome: ok ? 'passed' : 'failed',
      reason,
      at: new Date(),
    });
    try {
      await trialLoad(
        {
          model: v.modelName,
          version: v.version,
          path,
          inputs: v.signature.inputs,
          outputs: v.signature.outputs.map((o) => o.name),
        },
        limits,
      );
    } catch (err) {
      const e = toQuiverError(err);
      // UNAVAILABLE: no trial process could be started; that says nothing about the model.
      if (e.code !== 'QUIVER_ERR_MODEL_LOAD') throw e;
      const failed = outcome(false, e.message);
      // Unrecorded (the store down), the next admission trials again; the refusal stands either way.
      await this.store.recordTrial(failed).catch(() => undefined);
      throw new TrialRefused(e.message, failed);
    }
    await this.store.recordTrial(outcome(true, ''));
  }
}
