/**
 * The live feedback loop's Prometheus series (src/feedback/): each version's live accuracy or
 * MAE and its sample count, read from the figures the live quality last computed (never
 * queried on scrape), and the prediction log's and the outcomes' counters.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

import type { Feedback } from '../feedback/feedback.js';

/** Registered whether or not the server has a registry (without one, the families have no series). */
export function registerFeedbackMetrics(registry: Registry, source: () => Feedback | undefined): void {
  const registers = [registry];
  const figures = () => source()?.quality.all() ?? [];
  for (const [name, help, metric] of [
    ['ml_model_live_accuracy', 'Accuracy of a classifier version on live traffic: its logged predictions that have an outcome', 'accuracy'],
    ['ml_model_live_mae', 'Mean absolute error of a regressor version on live traffic: its logged predictions that have an outcome', 'mae'],
  ] as const) {
    new Gauge({
      name,
      help,
      labelNames: ['model', 'version'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const f of figures()) if (f.figure.metric === metric) this.set({ model: f.name, version: String(f.version) }, f.figure.value);
      },
    });
  }
  new Gauge({
    name: 'ml_model_live_samples',
    help: 'Logged predictions of a version that have an outcome (what its live accuracy or MAE covers)',
    labelNames: ['model', 'version'],
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      for (const f of figures()) this.set({ model: f.name, version: String(f.version) }, f.figure.samples);
    },
  });
  new Gauge({
    name: 'ml_model_live_sufficient',
    help: 'Whether a version has liveQualityMinSamples outcomes: 1 when the alerts use its live accuracy instead of the registered one',
    labelNames: ['model', 'version'],
    registers,
    aggregator: 'max',
    collect() {
      this.reset();
      for (const f of figures()) this.set({ model: f.name, version: String(f.version) }, f.figure.sufficient ? 1 : 0);
    },
  });
  new Counter({
    name: 'quiver_prediction_log_rows_total',
    help: 'Answers sampled for the prediction log, by what became of them: written, dropped (too many pending), failed (the database refused the write) or capped (over predictionLogMaxRowsPerSecond, not logged)',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const feedback = source();
      if (feedback === undefined) return;
      const c = feedback.log.counts;
      this.inc({ result: 'written' }, c.written);
      this.inc({ result: 'dropped' }, c.dropped);
      this.inc({ result: 'failed' }, c.failed);
      this.inc({ result: 'capped' }, c.capped);
    },
  });
  new Counter({
    name: 'quiver_outcomes_total',
    help: 'Outcomes received, by result: recorded (joined to a logged prediction) or unknown (no logged prediction has the id)',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const feedback = source();
      if (feedback === undefined) return;
      this.inc({ result: 'recorded' }, feedback.counts.recorded);
      this.inc({ result: 'unknown' }, feedback.counts.unknown);
    },
  });
}
