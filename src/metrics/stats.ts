/** The GetStats answer (and /stats) from the per-version telemetry and the loaded models. */
import type { ModelManager } from '../core/model-manager.js';
import type { GetStatsResponse, VersionStats } from '../gen/quiver/v1/prediction.js';
import type { LiveFigure } from '../feedback/live-quality.js';
import type { ServingMetrics } from './metrics.js';

/**
 * @param live a version's live quality (src/feedback/live-quality.ts), when outcomes arrived
 *   for it; none without a registry.
 */
export function statsResponse(
  metrics: ServingMetrics,
  models: ModelManager,
  modelName: string,
  live: (name: string, version: number) => LiveFigure | undefined = () => undefined,
): GetStatsResponse {
  const versions: VersionStats[] = [];
  for (const t of metrics.telemetry()) {
    if (modelName !== '' && t.name !== modelName) continue;
    const loaded = models.versionsOf(t.name).find((v) => v.version === t.version);
    if (loaded === undefined) continue;
    const s = t.stats.snapshot();
    const drift = t.drift?.snapshot();
    const lineage = loaded.lineage;
    const figure = live(t.name, t.version);
    versions.push({
      modelName: t.name,
      modelVersion: String(t.version),
      aliases: [...models.aliasesOf(t.name)].filter(([, v]) => v === t.version).map(([a]) => a),
      loadedAt: loaded.loadedAt.toISOString(),
      requests: s.requests,
      errors: s.errors,
      errorRate: s.errorRate,
      errorsByCode: new Map(Object.entries(s.errorsByCode)),
      latencyMs: s.latencyMs,
      predictions: {
        counts: new Map(Object.entries(s.predictions.counts)),
        mean: s.predictions.mean,
        min: s.predictions.min,
        max: s.predictions.max,
        n: s.predictions.n,
      },
      drift:
        drift === undefined
          ? { evaluated: false, drifted: false, samples: 0, features: [] }
          : {
              evaluated: drift.evaluated,
              drifted: drift.drifted,
              samples: drift.samples,
              features: drift.features.map((f) => ({
                feature: f.name,
                psi: f.psi,
                ks: f.ks,
                drifted: f.drifted,
                edges: [...f.edges],
                trainingCounts: [...f.trainingCounts],
                liveCounts: [...f.liveCounts],
              })),
            },
      lineage:
        lineage === undefined
          ? undefined
          : {
              algorithm: lineage.algorithm,
              datasetSha256: lineage.datasetSha256,
              datasetRows: lineage.datasetRows,
              experimentName: lineage.experimentName,
              codeVersion: lineage.codeVersion,
              metrics: new Map(lineage.metrics),
            },
      batches: s.batches,
      batchRows: s.batchRows,
      inlineRuns: s.inlineRuns,
      dropped: new Map(Object.entries(s.dropped)),
      latencyHistogramMs: { upperBounds: [...s.latencyHistogramMs.upperBounds], counts: [...s.latencyHistogramMs.counts] },
      batchSizeHistogram: { upperBounds: [...s.batchSizeHistogram.upperBounds], counts: [...s.batchSizeHistogram.counts] },
      live:
        figure === undefined
          ? undefined
          : {
              metric: figure.metric,
              value: figure.value,
              samples: figure.samples,
              ciLow: figure.ciLow,
              ciHigh: figure.ciHigh,
              sufficient: figure.sufficient,
            },
    });
  }
  versions.sort((a, b) => a.modelName.localeCompare(b.modelName) || Number(a.modelVersion) - Number(b.modelVersion));
  const loadFailures = models
    .loadFailures()
    .filter((f) => modelName === '' || f.modelName === modelName)
    .map((f) => ({
      modelName: f.modelName,
      modelVersion: String(f.version),
      reason: f.reason,
      attempts: f.attempts,
      failedAt: f.failedAt.toISOString(),
      nextRetryAt: f.nextRetryAt?.toISOString() ?? '',
      trialFailed: f.trialFailed,
    }));
  return { uptimeSeconds: (Date.now() - metrics.started) / 1000, versions, loadFailures };
}
