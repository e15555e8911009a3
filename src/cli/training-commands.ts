/**
 * The blueprint's training flow from the command line: `quiver data generate|validate`,
 * `quiver train`, `quiver evaluate` (promotion is `quiver promote`, in registry-commands.ts).
 */
import { createHash } from 'node:crypto';
import { basename } from 'node:path';

import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';

import { ALGORITHMS, ALGORITHM_NAMES, isAlgorithmName } from '../../training/algorithms/index.js';
import { resolveParams } from '../../training/algorithms/trainer.js';
import { DEFAULT_WEIGHTS, formatCsv, generateDataset } from '../../training/data/generate.js';
import { validateDataset } from '../../training/data/validate.js';
import { type Evaluation, compareModels, evaluateOnnxOnTable } from '../../training/evaluate.js';
import { type MetricName, METRIC_NAMES } from '../../training/metrics.js';
import { trainModel, trainingReport } from '../../training/train.js';
import { invalidArgument } from '../core/errors.js';
import type { Evaluation as WireEvaluation } from '../gen/quiver/v1/registry.js';
import { exportTrainingTable, parseSince } from '../feedback/export.js';
import { registerTraining, wireEvaluation } from '../registry/register-training.js';
import { CliExit } from './exit.js';
import { evaluationReportHtml } from './evaluation-report.js';
import { aboutInput, parseCsvInput, readCsvInput, readInput, writeJsonOutput, writeOutput } from './files.js';
import { actor, versionSummary, withRegistry } from './registry-commands.js';
import { addOptionFlags } from './serve.js';

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

function num(name: string, text: string | undefined, fallback: number, integer = false): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw invalidArgument(`--${name}: ${JSON.stringify(text)} is not ${integer ? 'an integer' : 'a number'}`);
  return n;
}

function params(pairs: string[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidArgument(`--param: '${pair}' must be name=value`);
    const raw = pair.slice(eq + 1);
    const n = Number(raw);
    out[pair.slice(0, eq)] = raw !== '' && Number.isFinite(n) ? n : raw;
  }
  return out;
}

/** `name:version` or `name@alias`. */
export function parseModelUri(uri: string): { name: string; version: string } {
  const m = /^([^:@]+)(?:[:@](.+))$/.exec(uri);
  if (m === null) throw invalidArgument(`--model-uri: '${uri}' must be NAME:VERSION or NAME@ALIAS`);
  return { name: m[1] as string, version: m[2] as string };
}

export function addTrainingCommands(program: Command): void {
  const data = program.command('data').description('generate and validate training data');
  data
    .command('generate')
    .description("the blueprint's synthetic data: 10 normal features, target = w0*f0 + w1*f1 + w2*f2 > 0")
    .requiredOption('--output <file>', 'CSV to write')
    .option('--rows <n>', 'rows', '1000')
    .option('--seed <s>', 'random seed', '42')
    .option('--mean <m>', 'feature mean', '0')
    .option('--std <d>', 'feature standard deviation', '1')
    .option('--weights <w0,w1,w2>', `target weights (Flow 1's new data uses 1,1,0.3)`, DEFAULT_WEIGHTS.join(','))
    .action((v: { output: string; rows: string; seed: string; mean: string; std: string; weights: string }) => {
      const weights = v.weights.split(',').map((w) => num('weights', w, NaN));
      if (weights.length !== 3 || weights.some((w) => !Number.isFinite(w)))
        throw invalidArgument('--weights: give three numbers, like 1,1,0.5');
      const dataset = generateDataset({
        rows: num('rows', v.rows, 1000, true),
        seed: num('seed', v.seed, 42, true),
        mean: num('mean', v.mean, 0),
        std: num('std', v.std, 1),
        weights,
      });
      writeOutput('--output', v.output, formatCsv(dataset));
      const positives = dataset.rows.filter((r) => r[r.length - 1] === 1).length;
      print({ output: v.output, rows: dataset.rows.length, columns: dataset.columns, positive_share: positives / dataset.rows.length });
    });

  data
    .command('validate')
    .description('check a CSV: schema and types, missing values, duplicates, ranges and outliers, class balance, distributions')
    .requiredOption('--data-path <file>', 'CSV to check')
    .requiredOption('--output <file>', 'JSON report to write')
    .option('--target <column>', 'label column', 'target')
    .option('--min-minority-share <x>', 'fail when the smaller class is below this share', '0.1')
    .action((v: { dataPath: string; output: string; target: string; minMinorityShare: string }) => {
      const minMinorityShare = num('min-minority-share', v.minMinorityShare, 0.1);
      const report = validateDataset(readCsvInput('--data-path', v.dataPath), { target: v.target, minMinorityShare });
      writeJsonOutput('--output', v.output, report);
      print({
        passed: report.passed,
        rows: report.rows,
        report: v.output,
        failed: report.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.message}`),
      });
      if (!report.passed) {
        const failed = report.checks.filter((c) => !c.passed).map((c) => `${c.name}: ${c.message}`);
        throw new CliExit(1, `--data-path ${v.dataPath} failed validation: ${failed.join('; ')} (details in ${v.output})`);
      }
    });

  addOptionFlags(
    data
      .command('export')
      .description("the logged predictions that have an outcome (live traffic's ground truth) as a training CSV for `quiver train`")
      .requiredOption('--model-name <name>', 'registered model whose predictions to export')
      .option('--version <n>', 'only this version (default: every version; the columns are the newest version’s features)')
      .option('--since <duration>', 'only predictions logged this recently: 30m, 24h, 7d (default: the whole log)')
      .requiredOption('--output <file>', 'CSV to write'),
    ['dataDir', 'registryUrl', 'artifactUrl', 's3Endpoint', 's3ForcePathStyle', 'maxUploadBytes'],
  ).action(async (v: Record<string, unknown>) => {
    const version = v.version === undefined ? undefined : num('version', v.version as string, 0, true);
    const since = v.since === undefined ? undefined : parseSince(v.since as string);
    const output = v.output as string;
    const table = await withRegistry(v, (r) => exportTrainingTable(r, v.modelName as string, version, since));
    writeOutput('--output', output, formatCsv(table));
    print({ output, rows: table.rows.length, columns: table.columns, versions: table.versions });
  });

  addOptionFlags(
    program
      .command('train')
      .description('train on a CSV, check the ONNX export, and register the model with its lineage')
      .requiredOption('--data-path <file>', 'training CSV (target column `target`)')
      .requiredOption('--model-name <name>', 'registered model to add a version to')
      .option('--algorithm <name>', ALGORITHM_NAMES.join(' | '), 'logistic')
      .option('--experiment-name <name>', 'recorded in the lineage (default: the model name)')
      .option('--param <name=value...>', 'algorithm parameters')
      .option('--seed <s>', 'random seed (split and training)', '42')
      .option('--holdout <x>', 'share of rows held out for the metrics', '0.2')
      .option('--description <text>', 'version description', '')
      .option('--report <file>', 'also write the training report (metrics, parity, profile) as JSON')
      .option('--no-progress', 'no progress bar'),
    ['dataDir', 'registryUrl', 'artifactUrl', 's3Endpoint', 's3ForcePathStyle', 'maxUploadBytes'],
  ).action(async (v: Record<string, unknown>) => {
    const algorithm = v.algorithm as string;
    if (!isAlgorithmName(algorithm)) throw invalidArgument(`--algorithm: '${algorithm}' is not one of ${ALGORITHM_NAMES.join(', ')}`);
    const given = params(v.param as string[] | undefined);
    try {
      resolveParams<object>(algorithm, ALGORITHMS[algorithm].defaults, given);
    } catch (err) {
      throw invalidArgument(`--param: ${(err as Error).message}`);
    }
    const seed = num('seed', v.seed as string, 42, true);
    const holdout = num('holdout', v.holdout as string, 0.2);
    if (!(holdout > 0 && holdout < 1)) throw invalidArgument(`--holdout: ${holdout} must be between 0 and 1 (exclusive), like 0.2`);
    const dataPath = v.dataPath as string;
    const bar =
      v.progress === false || !process.stderr.isTTY
        ? undefined
        : new SingleBar({ format: `training ${algorithm} [{bar}] {percentage}% {value}/{total}`, stream: process.stderr });
    let started = false;
    const result = await aboutInput('--data-path', dataPath, () =>
      trainModel({
        dataPath,
        algorithm,
        params: given,
        seed,
        holdout,
        onProgress: (done, total) => {
          if (bar === undefined) return;
          if (!started) bar.start(total, 0);
          started = true;
          bar.update(done);
        },
      }),
    ).finally(() => bar?.stop());
    if (v.report !== undefined) writeJsonOutput('--report', v.report as string, trainingReport(result));
    const modelName = v.modelName as string;
    const version = await withRegistry(v, (r) =>
      registerTraining(r, modelName, result, {
        experimentName: (v.experimentName as string | undefined) ?? modelName,
        datasetName: basename(dataPath),
        description: v.description as string,
        actor: actor(),
      }),
    );
    print({ ...versionSummary(version), holdout_metrics: result.metrics, parity: result.parity, dataset: result.dataset });
  });

  addOptionFlags(
    program
      .command('evaluate')
      .description(
        'score a registered version on test data and compare it with the Production version; exit 0 when it beats it by the margin',
      )
      .requiredOption('--model-uri <name:version|name@alias>', 'the candidate')
      .requiredOption('--test-data <file>', 'CSV with the features and `target`')
      .option('--output-report <file>', 'JSON report to write')
      .option('--html <file>', 'self-contained HTML report with the plots (ROC, precision-recall, confusion, calibration, importance)')
      .option('--no-record', 'do not record the evaluations with the versions in the registry')
      .option('--metric <name>', METRIC_NAMES.join(' | '), 'accuracy')
      .option('--margin <x>', 'how much better the candidate must be', '0'),
    ['dataDir', 'registryUrl', 'artifactUrl', 's3Endpoint', 's3ForcePathStyle'],
  ).action(async (v: Record<string, unknown>) => {
    const { name, version } = parseModelUri(v.modelUri as string);
    const metric = v.metric as MetricName;
    if (!METRIC_NAMES.includes(metric)) throw invalidArgument(`--metric: '${metric}' is not one of ${METRIC_NAMES.join(', ')}`);
    const margin = num('margin', v.margin as string, 0);
    if (v.outputReport === undefined && v.html === undefined)
      throw invalidArgument('give --output-report FILE (the JSON report) or --html FILE (the plots), or both');
    const testData = v.testData as string;
    const testBytes = readInput('--test-data', testData);
    const table = parseCsvInput('--test-data', testData, testBytes);
    const dataset = { name: basename(testData), sha256: createHash('sha256').update(testBytes).digest('hex') };
    const evaluate = (bytes: Uint8Array): ReturnType<typeof evaluateOnnxOnTable> =>
      aboutInput('--test-data', testData, () => evaluateOnnxOnTable(bytes, table));
    const report = await withRegistry(v, async (r) => {
      const candidate = await r.artifact(name, version);
      const production = await r.resolveVersion(name, 'production').catch(() => undefined);
      const candidateEval = await evaluate(candidate.bytes);
      const same = production?.version === candidate.version.version;
      const productionEval =
        production === undefined ? undefined : same ? candidateEval : await evaluate(await r.artifacts.readVerified(production.sha256));
      // Each version's evaluation on this data is recorded with it (once), unless --no-record: the console plots it.
      const record = (version: number, evaluation: Evaluation): Promise<WireEvaluation> => {
        const wire = wireEvaluation(evaluation, dataset);
        return v.record === false
          ? Promise.resolve({ ...wire, modelName: name, version, createdBy: actor() })
          : r.addEvaluation(name, version, wire, actor());
      };
      const candidateRecord = await record(candidate.version.version, candidateEval);
      const recorded = {
        candidate: candidateRecord,
        production:
          production === undefined || productionEval === undefined
            ? null
            : same
              ? candidateRecord
              : await record(production.version, productionEval),
      };
      return {
        recorded,
        model: name,
        candidate: { version: candidate.version.version, ...candidateEval },
        production: production === undefined ? null : { version: production.version, ...productionEval },
        comparison: compareModels(candidateEval.metrics, productionEval?.metrics ?? null, margin, metric),
        test_data: v.testData,
      };
    });
    const { recorded, ...json } = report;
    const c = report.comparison;
    if (v.outputReport !== undefined) writeJsonOutput('--output-report', v.outputReport as string, json);
    if (v.html !== undefined) {
      const verdict =
        c.production === null
          ? `No Production version to compare with: version ${report.candidate.version} passes.`
          : `Version ${report.candidate.version} ${c.beats ? 'beats' : 'does not beat'} Production (version ${report.production?.version}) on ${c.metric}: ${c.candidate.toFixed(4)} against ${c.production.toFixed(4)}, margin ${c.margin}.`;
      writeOutput(
        '--html',
        v.html as string,
        evaluationReportHtml({ model: name, candidate: recorded.candidate, production: recorded.production, verdict }),
      );
    }
    print({
      model: name,
      candidate_version: report.candidate.version,
      production_version: report.production?.version ?? null,
      metric: c.metric,
      candidate: c.candidate,
      production: c.production,
      improvement: c.improvement,
      margin: c.margin,
      beats: c.beats,
      report: v.outputReport ?? null,
      html: v.html ?? null,
    });
    if (!report.comparison.beats)
      throw new CliExit(1, `version ${report.candidate.version} does not beat production by ${margin} on ${metric}`);
  });
}
