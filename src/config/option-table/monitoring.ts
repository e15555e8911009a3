/** Drift detection against the training profile, and the Prometheus metrics with their own port. */
import type { OptionDef } from '../option-schema.js';

export const MONITORING_OPTIONS: readonly OptionDef[] = [
  {
    key: 'driftWindow',
    kind: 'int',
    min: 10,
    max: 1_000_000,
    default: () => 500,
    unit: 'rows',
    doc: 'live input rows per model version compared with its training profile (a sliding window)',
  },
  {
    key: 'driftMinSamples',
    kind: 'int',
    min: 1,
    max: 1_000_000,
    default: () => 30,
    unit: 'rows',
    doc: 'rows needed before any drift verdict',
  },
  {
    key: 'driftPsiThreshold',
    kind: 'number',
    min: 0,
    max: 100,
    default: () => 0.25,
    doc: 'a feature drifted when its population stability index is over this and its KS test also fires',
  },
  {
    key: 'driftKsAlpha',
    kind: 'number',
    min: 1e-12,
    max: 0.5,
    default: () => 1e-4,
    doc: 'significance of the Kolmogorov-Smirnov test (split across features, Bonferroni)',
  },
  {
    key: 'metrics',
    kind: 'bool',
    default: () => true,
    doc: 'update the Prometheus metrics (the statistics behind /stats are always kept)',
  },
  {
    key: 'metricsServer',
    kind: 'bool',
    default: () => true,
    doc: 'serve /metrics on a port of its own as well (metricsHost:metricsPort), for scrapers kept off the API port',
  },
  { key: 'metricsHost', kind: 'string', default: () => '0.0.0.0', doc: 'address the metrics port binds' },
  { key: 'metricsPort', kind: 'port', default: () => 9464, doc: 'the metrics port (0 picks a free port)' },
];
