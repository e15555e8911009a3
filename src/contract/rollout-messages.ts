/** Rollouts between their records (src/rollouts/) and the contract's messages. */
import type { Rollout, StartRolloutRequest } from '../gen/quiver/v1/registry.js';
import type { StartInput } from '../rollouts/rollouts.js';
import type { RolloutRecord } from '../rollouts/types.js';

export function toWireRollout(r: RolloutRecord, disagreementRatio: number): Rollout {
  const p = r.policy;
  return {
    id: r.id,
    modelName: r.modelName,
    baselineVersion: r.baselineVersion,
    candidateVersion: r.candidateVersion,
    strategy: r.strategy,
    policy: {
      steps: [...p.steps],
      intervalSeconds: Math.round(p.intervalMs / 1000),
      minSamples: p.minSamples,
      minOutcomes: p.minOutcomes,
      maxErrorRateIncrease: p.maxErrorRateIncrease,
      maxLatencyIncrease: p.maxLatencyIncrease,
      maxAccuracyDrop: p.maxAccuracyDrop,
      maxMaeIncrease: p.maxMaeIncrease,
      alpha: p.alpha,
      checks: [...p.checks],
      requireOutcomes: p.requireOutcomes,
    },
    step: r.step,
    weight: r.weight,
    state: r.state,
    startedAt: r.startedAt,
    stepStartedAt: r.stepStartedAt,
    updatedAt: r.updatedAt,
    checks: r.checks.map((c) => ({
      name: c.name,
      status: c.status,
      baseline: c.baseline,
      candidate: c.candidate,
      baselineSamples: c.baselineSamples,
      candidateSamples: c.candidateSamples,
      pValue: c.pValue,
      detail: c.detail,
    })),
    reason: r.reason,
    actor: r.actor,
    disagreementRatio,
  };
}

export function startInputOf(req: StartRolloutRequest): StartInput {
  const p = req.policy;
  return {
    modelName: req.modelName,
    version: req.version,
    strategy: req.strategy,
    weight: req.weight,
    ...(p === undefined
      ? {}
      : {
          steps: p.steps,
          intervalMs: p.intervalSeconds * 1000,
          minSamples: p.minSamples,
          minOutcomes: p.minOutcomes,
          maxErrorRateIncrease: p.maxErrorRateIncrease,
          maxLatencyIncrease: p.maxLatencyIncrease,
          maxAccuracyDrop: p.maxAccuracyDrop,
          maxMaeIncrease: p.maxMaeIncrease,
          alpha: p.alpha,
          checks: p.checks,
          requireOutcomes: p.requireOutcomes,
        }),
  };
}
