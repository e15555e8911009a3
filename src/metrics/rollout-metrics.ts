/**
 * The rollouts' Prometheus series (src/rollouts/): each running rollout's candidate weight and,
 * for a shadow, how often its answers differ from the ones the callers got (this replica's),
 * and the rollouts this replica ended, by result. The candidate's latency and errors are its
 * version's own series (ml_prediction_latency_seconds, ml_predictions_total).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

import type { FeedbackLoop } from '../serving/feedback-loop.js';

/** Registered whether or not the server has a registry (without one, the families have no series). */
export function registerRolloutMetrics(registry: Registry, source: () => FeedbackLoop | undefined): void {
  const registers = [registry];
  new Gauge({
    name: 'quiver_rollout_weight',
    help: "Percent of the model's requests a running rollout's candidate gets (canary: routed to it; shadow: copied to it)",
    labelNames: ['model', 'version'],
    registers,
    aggregator: 'first',
    collect() {
      this.reset();
      for (const [model, r] of source()?.router.all() ?? []) this.set({ model, version: String(r.candidate) }, r.weight);
    },
  });
  new Gauge({
    name: 'quiver_shadow_disagreement_ratio',
    help: "Share of a shadow candidate's answers that differed from the ones the callers got (this replica's)",
    labelNames: ['model', 'version'],
    registers,
    aggregator: 'average',
    collect() {
      this.reset();
      for (const [model, r] of source()?.router.all() ?? [])
        if (r.strategy === 'shadow' && r.shadow.compared > 0)
          this.set({ model, version: String(r.candidate) }, r.shadow.disagreed / r.shadow.compared);
    },
  });
  new Counter({
    name: 'quiver_rollouts_total',
    help: 'Rollouts this replica ended, by result: promoted, rolled_back (a check failed), failed (the candidate failed its trial load) or aborted (Production moved outside the rollout)',
    labelNames: ['model', 'result'],
    registers,
    collect() {
      this.reset();
      for (const [model, byResult] of source()?.rollouts.ended ?? []) for (const [result, n] of byResult) this.inc({ model, result }, n);
    },
  });
}
