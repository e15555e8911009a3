/**
 * One training run, end to end, returning everything the registry records as lineage: read
 * (or take) the data and hash it, split off a holdout, train, score the holdout, export ONNX,
 * check the export's parity with the trainer, and profile the training rows for drift.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { failedPrecondition, invalidArgument } from '../src/core/errors.js';
import { ALGORITHMS, type AlgorithmName, isAlgorithmName } from './algorithms/index.js';
import type { ProgressFn, Trainer } from './algorithms/trainer.js';
import { parseCsv, toMatrix } from './data/csv.js';
import { type TableLike, formatCsv } from './data/generate.js';
import { takeRows } from './matrix.js';
import { type ClassificationMetrics, type ConfusionMatrix, classificationMetrics, confusionMatrix, labelsFromProba } from './metrics.js';
import { type EvaluationCurves, evaluationCurves } from './evaluate.js';
import { type ParityResult, checkParity } from './parity.js';
import { type TrainingProfile, trainingProfile } from './profile.js';
import { splitIndices } from './split.js';

export interface TrainOptions {
  /** A CSV file with a header row; its bytes are hashed for lineage. */
  readonly dataPath?: string;
  /** Or the table itself; its hash is that of formatCsv(table), i.e. of the file writeCsv writes. */
  readonly dataset?: TableLike;
  /** The label column (default `target`). */
  readonly target?: string;
  /** Default `logistic`. */
  readonly algorithm?: AlgorithmName;
  /** Algorithm parameters; unknown names are errors; missing ones take the algorithm's defaults. */
  readonly params?: Readonly<Record<string, unknown>>;
  /** Seeds the split and, unless params give their own `seed`, the algorithm (default 42). */
  readonly seed?: number;
  /** Fraction of rows held out for the metrics (default 0.2). */
  readonly holdout?: number;
  /** Keep the label mix in both parts (default true). */
  readonly stratify?: boolean;
  readonly onProgress?: ProgressFn;
}

export interface TrainResult {
  readonly algorithm: AlgorithmName;
  /** The parameters used, defaults filled in. */
  readonly params: Record<string, unknown>;
  readonly seed: number;
  readonly holdout: number;
  readonly target: string;
  readonly featureNames: string[];
  readonly dataset: {
    readonly sha256: string;
    readonly rows: number;
    readonly trainRows: number;
    readonly holdoutRows: number;
    /** The file trained on, or null for an in-memory table. */
    readonly path: string | null;
  };
  /** Holdout metrics of the trainer's own predictions (the ONNX gives the same within parity). */
  readonly metrics: ClassificationMetrics;
  readonly confusionMatrix: ConfusionMatrix;
  /** The holdout's ROC and PR curves, calibration and permutation importance (the trainer's predictions). */
  readonly curves: EvaluationCurves;
  /** ONNX vs trainer on every row; a run whose parity did not pass must not be registered. */
  readonly parity: ParityResult;
  /** Profile of the training split (not the holdout). */
  readonly profile: TrainingProfile;
  readonly onnx: Uint8Array;
  readonly onnxSha256: string;
  /** The fitted model as a plain object (weights, trees, ...). */
  readonly model: { readonly algorithm: AlgorithmName; readonly params: object };
  readonly durationMs: number;
}

const sha256 = (bytes: string | Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export async function trainModel(options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const { target = 'target', algorithm = 'logistic', seed = 42, holdout = 0.2, stratify = true } = options;
  if (!isAlgorithmName(algorithm))
    throw invalidArgument(`unknown algorithm '${String(algorithm)}' (known: ${Object.keys(ALGORITHMS).join(', ')})`);
  if (!(holdout > 0 && holdout < 1)) throw invalidArgument(`holdout must be between 0 and 1 (exclusive), got ${holdout}`);
  if ((options.dataPath === undefined) === (options.dataset === undefined))
    throw invalidArgument('give exactly one of dataPath and dataset');

  let hash: string;
  let table: TableLike;
  if (options.dataPath !== undefined) {
    const bytes = readFileSync(options.dataPath);
    hash = sha256(bytes);
    table = parseCsv(bytes);
  } else {
    table = options.dataset!;
    hash = sha256(formatCsv(table));
  }
  const { featureNames, X, y } = toMatrix(table, { target });
  if (X.length < 10) throw failedPrecondition(`need at least 10 rows to train and hold out, got ${X.length}`);
  y.forEach((v, i) => {
    if (v !== 0 && v !== 1) throw failedPrecondition(`target '${target}' must be 0 or 1; row ${i + 1} has ${v}`);
  });
  const split = splitIndices(X.length, { holdout, seed, ...(stratify ? { stratify: y } : {}) });
  const Xtrain = takeRows(X, split.train);
  const ytrain = takeRows(y, split.train);
  const Xhold = takeRows(X, split.holdout);
  const yhold = takeRows(y, split.holdout);
  if (new Set(ytrain).size < 2) throw failedPrecondition(`the training rows hold a single class of '${target}'`);

  // Method signatures make Trainer bivariant in its model type: any of them fits this view.
  const trainer: Trainer<object, { readonly algorithm: AlgorithmName; readonly params: object }> = ALGORITHMS[algorithm];
  const params = { ...options.params };
  if ('seed' in trainer.defaults && params['seed'] === undefined) params['seed'] = seed;
  const model = trainer.train(Xtrain, ytrain, params, options.onProgress);
  const holdoutProba = trainer.predictProba(model, Xhold);
  const onnx = trainer.toOnnx(model, featureNames);
  const parity = await checkParity(onnx, X, trainer.predictProba(model, X));

  return {
    algorithm,
    params: { ...model.params },
    seed,
    holdout,
    target,
    featureNames,
    dataset: {
      sha256: hash,
      rows: X.length,
      trainRows: Xtrain.length,
      holdoutRows: Xhold.length,
      path: options.dataPath ?? null,
    },
    metrics: classificationMetrics(yhold, holdoutProba),
    confusionMatrix: confusionMatrix(yhold, labelsFromProba(holdoutProba)),
    curves: await evaluationCurves(Xhold, yhold, holdoutProba, featureNames, (rows) => trainer.predictProba(model, rows)),
    parity,
    profile: trainingProfile(featureNames, Xtrain),
    onnx,
    onnxSha256: sha256(onnx),
    model,
    durationMs: performance.now() - started,
  };
}

/** A training run as JSON-ready lineage: everything but the ONNX bytes and the fitted model. */
export function trainingReport(result: TrainResult): Omit<TrainResult, 'onnx' | 'model'> & { onnxBytes: number } {
  const { onnx, model: _model, ...rest } = result;
  return { ...rest, onnxBytes: onnx.length };
}
