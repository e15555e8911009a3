/**
 * Wires the live feedback loop into a server with a registry: the prediction log and live
 * quality (src/feedback/), and the rollout engine with its router (src/rollouts/), which the
 * follower feeds with each model's running rollout. Their metrics are registered by the
 * composition root whether or not there is a registry. Teardown stops them (the log's last
 * rows written) before the registry closes.
 */
import type { Logger } from 'pino';

import type { Options } from '../config/options.js';
import type { InferenceCore } from '../core/inference.js';
import type { ModelManager } from '../core/model-manager.js';
import { Feedback, feedbackOptions } from '../feedback/feedback.js';
import type { ServingMetrics } from '../metrics/metrics.js';
import type { RegistryFollower } from '../registry/follower.js';
import type { Registry } from '../registry/registry.js';
import { RolloutEngine } from '../rollouts/engine.js';
import { RolloutRouter } from '../rollouts/router.js';
import type { Teardown } from './teardown.js';

export interface FeedbackLoop {
  readonly feedback: Feedback;
  readonly rollouts: RolloutEngine;
  readonly router: RolloutRouter;
}

export function startFeedbackLoop(
  parts: {
    readonly registry: Registry;
    readonly follower: RegistryFollower;
    readonly models: ModelManager;
    readonly core: InferenceCore;
    readonly metrics: ServingMetrics;
  },
  options: Options,
  log: Logger,
  teardown: Teardown,
): FeedbackLoop {
  const { registry, follower, models, core, metrics } = parts;
  const loaded = (name: string, version: number) => models.versionsOf(name).find((x) => x.version === version);
  const classifier = (name: string, version: number): boolean | undefined => {
    const v = loaded(name, version);
    return v === undefined ? undefined : v.signature.task === 'classification';
  };
  const feedback = new Feedback(registry.predictions, feedbackOptions(options), classifier, log.child({ component: 'feedback' }));
  core.setPredictionLog(feedback.log);
  feedback.start();
  teardown.add('prediction log', () => feedback.stop());

  const router = new RolloutRouter();
  const rollouts = new RolloutEngine({
    registry,
    predictions: registry.predictions,
    router,
    isLoaded: (name, version) => models.isLoaded(name, version),
    neverLoads: (name, version) =>
      follower.currentFailures().find((f) => f.modelName === name && f.version === version && f.trialFailed)?.message,
    classifier,
    drifted: (name, version) => {
      const t = metrics.telemetry().find((x) => x.name === name && x.version === version);
      if (t === undefined) return undefined;
      if (t.drift === undefined) return null;
      const snap = t.drift.snapshot();
      return snap.evaluated ? snap.drifted : undefined;
    },
    log: log.child({ component: 'rollouts' }),
  });
  core.setRolloutRouter(router);
  follower.setRolloutListener((model, rollout) => rollouts.apply(model, rollout));
  rollouts.start();
  teardown.add('rollout engine', () => rollouts.stop());
  return { feedback, rollouts, router };
}
