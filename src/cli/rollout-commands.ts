/**
 * `quiver rollout start|status|promote|abort`: a model's rollouts, on the registry the servers
 * follow (its dataDir, or its registryUrl); every replica picks the change up as it picks up a
 * promotion. The JSON printed is the RPCs' answer in snake_case.
 */
import type { Command } from 'commander';

import { startInputOf, toWireRollout } from '../contract/rollout-messages.js';
import { invalidArgument } from '../core/errors.js';
import { parseSince } from '../feedback/export.js';
import type { Registry } from '../registry/registry.js';
import { abortNow, disagreementRatio, promoteNow, rolloutOf, startRollout } from '../rollouts/rollouts.js';
import type { RolloutRecord } from '../rollouts/types.js';
import { actor, withRegistry } from './registry-commands.js';
import { addOptionFlags } from './serve.js';

const REGISTRY_FLAGS = ['dataDir', 'registryUrl', 'artifactUrl', 's3Endpoint', 's3ForcePathStyle'] as const;

function num(flag: string, text: unknown, integer = false): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw invalidArgument(`--${flag}: ${JSON.stringify(text)} is not ${integer ? 'a whole number' : 'a number'}`);
  return n;
}

/** A rollout as the CLI prints it: the RPC's message in snake_case, with the verdict. */
async function summary(registry: Registry, r: RolloutRecord): Promise<Record<string, unknown>> {
  const w = toWireRollout(r, await disagreementRatio(registry, r));
  return {
    model: w.modelName,
    rollout: w.id,
    strategy: w.strategy,
    baseline_version: w.baselineVersion,
    candidate_version: w.candidateVersion,
    state: w.state,
    verdict: w.state === 'running' ? `step ${w.step + 1} of ${w.policy?.steps.length ?? 1}` : `${w.state}: ${w.reason}`,
    step: w.step,
    steps: w.policy?.steps ?? [],
    weight: w.weight,
    interval_seconds: w.policy?.intervalSeconds,
    started_at: r.startedAt.toISOString(),
    step_started_at: r.stepStartedAt.toISOString(),
    checks: w.checks.map((c) => ({
      name: c.name,
      status: c.status,
      baseline: c.baseline,
      candidate: c.candidate,
      baseline_samples: c.baselineSamples,
      candidate_samples: c.candidateSamples,
      p_value: c.pValue,
      detail: c.detail,
    })),
    ...(w.strategy === 'shadow' ? { disagreement_ratio: w.disagreementRatio } : {}),
    policy: {
      min_samples: w.policy?.minSamples,
      min_outcomes: w.policy?.minOutcomes,
      max_error_rate_increase: w.policy?.maxErrorRateIncrease,
      max_latency_increase: w.policy?.maxLatencyIncrease,
      max_accuracy_drop: w.policy?.maxAccuracyDrop,
      max_mae_increase: w.policy?.maxMaeIncrease,
      alpha: w.policy?.alpha,
      checks: w.policy?.checks,
      require_outcomes: w.policy?.requireOutcomes,
    },
    started_by: w.actor,
  };
}

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

export function addRolloutCommands(program: Command): void {
  const rollout = program.command('rollout').description('shadow and canary rollouts of a version, checked and rolled back by the servers');
  addOptionFlags(
    rollout
      .command('start')
      .description("roll a version out against the model's Production version")
      .requiredOption('--model-name <name>', 'the registered model')
      .requiredOption('--version <n>', 'the candidate version')
      .requiredOption('--strategy <strategy>', 'shadow (copies of the requests, answers compared) or canary (a weighted split)')
      .option('--weight <percent>', "canary: the first step's share of requests; shadow: the share copied (default 100)")
      .option('--steps <percents>', 'canary: the shares step by step, ending at 100 (default 10,25,50,100)')
      .option('--interval <duration>', 'how long each step lasts at least: 30s, 5m, 1h (default 60s)')
      .option('--min-samples <n>', 'requests per version before the error and latency checks count (default 200)')
      .option('--min-outcomes <n>', 'outcomes per version before the live accuracy check counts (default 100)')
      .option('--max-error-rate-increase <x>', "how far the candidate's error rate may exceed the baseline's, absolute (default 0.01)")
      .option('--max-latency-increase <x>', "how far the candidate's p99 may exceed the baseline's, relative (default 0.25)")
      .option('--max-accuracy-drop <x>', "how far the candidate's live accuracy may fall below the baseline's, absolute (default 0.02)")
      .option('--max-mae-increase <x>', "regressors: how far the candidate's live MAE may exceed the baseline's, relative (default 0.1)")
      .option('--alpha <x>', "the checks' significance level (default 0.01)")
      .option('--checks <names>', 'the checks to run: error_rate,latency_p99,drift,live_accuracy,live_mae (default all)')
      .option('--require-outcomes', 'a step waits for the live accuracy check to have its outcomes'),
    REGISTRY_FLAGS,
  ).action(async (v: Record<string, unknown>) => {
    const steps =
      v.steps === undefined
        ? undefined
        : String(v.steps)
            .split(',')
            .map((s) => num('steps', s.trim()) as number);
    const request = {
      modelName: v.modelName as string,
      version: num('version', v.version, true) as number,
      strategy: v.strategy as string,
      weight: num('weight', v.weight) ?? 0,
      policy: {
        steps: steps ?? [],
        intervalSeconds: v.interval === undefined ? 0 : parseSince(String(v.interval).replace(/^--/, '')) / 1000,
        minSamples: num('min-samples', v.minSamples, true) ?? 0,
        minOutcomes: num('min-outcomes', v.minOutcomes, true) ?? 0,
        maxErrorRateIncrease: num('max-error-rate-increase', v.maxErrorRateIncrease) ?? 0,
        maxLatencyIncrease: num('max-latency-increase', v.maxLatencyIncrease) ?? 0,
        maxAccuracyDrop: num('max-accuracy-drop', v.maxAccuracyDrop) ?? 0,
        maxMaeIncrease: num('max-mae-increase', v.maxMaeIncrease) ?? 0,
        alpha: num('alpha', v.alpha) ?? 0,
        checks:
          v.checks === undefined
            ? []
            : String(v.checks)
                .split(',')
                .map((s) => s.trim()),
        requireOutcomes: v.requireOutcomes === true,
      },
    };
    print(await withRegistry(v, async (r) => summary(r, await startRollout(r, startInputOf(request), actor()))));
  });

  for (const [name, description, run] of [
    ['status', "the model's newest rollout: strategy, weight, step, each check with its figures, and the verdict", rolloutOf],
    [
      'promote',
      "promote the running rollout's candidate to Production now, whatever its checks say",
      (r: Registry, m: string) => promoteNow(r, m, actor()),
    ],
    [
      'abort',
      "end the running rollout: the candidate's share goes to 0 on every replica",
      (r: Registry, m: string) => abortNow(r, m, actor()),
    ],
  ] as const) {
    addOptionFlags(
      rollout.command(name).description(description).requiredOption('--model-name <name>', 'the registered model'),
      REGISTRY_FLAGS,
    ).action(async (v: Record<string, unknown>) => {
      print(await withRegistry(v, async (r) => summary(r, await run(r, v.modelName as string))));
    });
  }
}
