/**
 * Registering a training run: the ONNX bytes plus its lineage (data set hash and rows,
 * algorithm and parameters, holdout metrics, code version, experiment, run id, the training
 * profile for drift detection). Used by `quiver train` and by `npm start` on an empty data
 * directory.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Evaluation as WireEvaluation, Lineage, TrainingProfile as WireProfile } from '../gen/quiver/v1/registry.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Evaluation } from '../../training/evaluate.js';
import type { ClassificationMetrics } from '../../training/metrics.js';
import type { TrainResult } from '../../training/train.js';
import type { Registry } from './registry.js';
import type { VersionRecord } from './types.js';

/** The code that trained it: the git commit when run from a checkout, else the package version. */
export function codeVersion(): string {
  try {
    const head = readFileSync(join(PACKAGE_ROOT, '.git', 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 12);
    return readFileSync(join(PACKAGE_ROOT, '.git', head.slice(5)), 'utf8')
      .trim()
      .slice(0, 12);
  } catch {
    const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };
    return `quiver@${pkg.version}`;
  }
}

/** snake_case names, as MLflow records them (accuracy, f1, roc_auc, log_loss, ...); NaN ones (AUC of one class) left out. */
function metricsMap(metrics: ClassificationMetrics): Map<string, number> {
  const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return new Map<string, number>(
    Object.entries(metrics)
      .filter(([, v]) => Number.isFinite(v))
      .map(([k, v]) => [snake(k), v as number]),
  );
}

/** An evaluation (training/evaluate.ts) as the registry stores it, curves included. */
export function wireEvaluation(
  evaluation: Pick<Evaluation, 'rows' | 'positives' | 'metrics' | 'confusionMatrix' | 'curves'>,
  dataset: { name: string; sha256: string },
): WireEvaluation {
  const [[tn, fp], [fn, tp]] = evaluation.confusionMatrix;
  const { roc, pr, calibration, featureImportance } = evaluation.curves;
  return WireEvaluation.fromPartial({
    datasetName: dataset.name,
    datasetSha256: dataset.sha256,
    rows: evaluation.rows,
    positives: evaluation.positives,
    metrics: metricsMap(evaluation.metrics),
    roc,
    pr,
    confusionMatrix: [tn, fp, fn, tp],
    calibration,
    featureImportance,
  });
}

/** The holdout's evaluation of a training run, as `quiver train` records it with the version. */
export function holdoutEvaluation(result: TrainResult): WireEvaluation {
  const [, [fn, tp]] = result.confusionMatrix;
  return wireEvaluation(
    {
      rows: result.dataset.holdoutRows,
      positives: fn + tp,
      metrics: result.metrics,
      confusionMatrix: result.confusionMatrix,
      curves: result.curves,
    },
    { name: 'holdout', sha256: result.dataset.sha256 },
  );
}

export function lineageOf(result: TrainResult, experimentName: string, datasetName: string): Lineage {
  const profile = WireProfile.fromPartial({
    rows: result.profile.rows,
    features: result.profile.featureNames.map((name) => {
      const f = result.profile.features[name];
      if (f === undefined) throw new Error(`profile has no feature ${name}`);
      return {
        name,
        mean: f.mean,
        std: f.std,
        min: f.min,
        max: f.max,
        quantileLevels: result.profile.quantileLevels,
        quantiles: f.quantiles,
        histogramEdges: f.histogram.edges,
        histogramCounts: f.histogram.counts,
      };
    }),
  });
  const metrics = metricsMap(result.metrics);
  metrics.set('parity_max_abs_diff', result.parity.maxAbsDiff);
  const params = new Map(Object.entries(result.params).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  params.set('seed', String(result.seed));
  params.set('holdout', String(result.holdout));
  return Lineage.fromPartial({
    datasetSha256: result.dataset.sha256,
    datasetRows: result.dataset.rows,
    datasetName,
    algorithm: result.algorithm,
    params,
    metrics,
    codeVersion: codeVersion(),
    experimentName,
    runId: randomUUID(),
    profile,
  });
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Registers a run whose parity check passed, with its holdout evaluation; refuses one that did not. */
export async function registerTraining(
  registry: Registry,
  modelName: string,
  result: TrainResult,
  meta: { experimentName: string; datasetName: string; description: string; actor: string },
): Promise<VersionRecord> {
  if (!result.parity.passed) {
    throw new Error(
      `the exported ONNX does not match the trainer (max abs diff ${result.parity.maxAbsDiff} > ${result.parity.threshold}); not registering it`,
    );
  }
  return registry.createVersion(
    {
      modelName,
      description: meta.description,
      tags: { algorithm: result.algorithm, experiment: meta.experimentName },
      lineage: lineageOf(result, meta.experimentName, meta.datasetName),
      expectedSha256: result.onnxSha256,
      evaluation: holdoutEvaluation(result),
    },
    once(result.onnx),
    meta.actor,
  );
}
