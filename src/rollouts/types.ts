/** A rollout's records, independent of storage and transport. */
import type { CheckPolicy, CheckResult } from './analysis.js';

export type RolloutStrategy = 'shadow' | 'canary';
export type RolloutState = 'running' | 'promoted' | 'rolled_back' | 'aborted' | 'failed';

export interface RolloutPolicy extends CheckPolicy {
  /**
   * Canary: the candidate's share of requests at each step, in percent, ending at 100 (the
   * last step passing promotes it). Shadow: one step, the share of requests copied to it.
   */
  readonly steps: readonly number[];
  /** How long each step lasts at least, once its checks have their samples. */
  readonly intervalMs: number;
  /** The checks run (analysis.ts CheckName); each can fail the rollout. */
  readonly checks: readonly string[];
  /**
   * Whether live_accuracy must have its minimum outcomes before a step passes. Off, the
   * check still fails a rollout once it has them, but outcomes that never come hold nothing up.
   */
  readonly requireOutcomes: boolean;
}

export interface RolloutRecord {
  readonly id: number;
  readonly modelName: string;
  /** The version serving when it started (the model's default), and the one rolled out. */
  readonly baselineVersion: number;
  readonly candidateVersion: number;
  readonly strategy: RolloutStrategy;
  readonly policy: RolloutPolicy;
  /** The index into policy.steps. */
  readonly step: number;
  /** The candidate's share now, percent (0 once it is over, unless promoted). */
  readonly weight: number;
  readonly state: RolloutState;
  readonly startedAt: Date;
  readonly stepStartedAt: Date;
  readonly updatedAt: Date;
  /** The last analysis: each check with its figures. */
  readonly checks: readonly CheckResult[];
  /** Why it ended (empty while running). */
  readonly reason: string;
  readonly actor: string;
}

/** One replica's tally of one version in a rollout, as stored. */
export interface TallyRecord {
  readonly replica: string;
  readonly version: number;
  readonly requests: number;
  readonly failures: number;
  readonly latency: unknown;
  /** The replica's drift verdict for the version; null before one. */
  readonly drifted: boolean | null;
  /** Shadow: answers compared with the baseline's, and those that differed. */
  readonly compared: number;
  readonly disagreed: number;
}
