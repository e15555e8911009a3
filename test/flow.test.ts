import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { BLUEPRINT_ROW, blueprintFeatures, tmp } from './helpers/fixtures.js';
import { ROOT, startCli } from './helpers/process.js';
import { Registry as RegistryClient } from './helpers/registry.js';
import { Client, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);

async function quiver(args: string[]): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { cwd: ROOT });
    return { code: 0, json: JSON.parse(stdout) as Record<string, unknown>, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, json: e.stdout === '' ? {} : (JSON.parse(e.stdout) as Record<string, unknown>), stderr: e.stderr };
  }
}

/** The version answering for production-model now ('' when none does). */
function servedVersion(client: Client): Promise<string> {
  return client
    .predict({ features: blueprintFeatures(BLUEPRINT_ROW) })
    .then((r) => r.modelVersion)
    .catch(() => '');
}

test("the blueprint's Flow 1 end to end: generate, validate, train, promote, new data, retrain, evaluate, promote; the server follows", async (t) => {
  const dataDir = tmp('quiver-flow-');
  const d = (f: string): string => join(dataDir, f);
  const srv = await startServer({ dataDir, registryPollMs: 100 });
  try {
    // Setup: sample data, validated, trained, promoted.
    t.is((await quiver(['data', 'generate', '--output', d('sample_training_data.csv'), '--rows', '1000', '--seed', '42'])).code, 0);
    const valid = await quiver([
      'data',
      'validate',
      '--data-path',
      d('sample_training_data.csv'),
      '--output',
      d('data_validation_report.json'),
    ]);
    t.is(valid.code, 0, valid.stderr);
    t.true((JSON.parse(readFileSync(d('data_validation_report.json'), 'utf8')) as { passed: boolean }).passed);
    const first = await quiver([
      'train',
      '--data-dir',
      dataDir,
      '--data-path',
      d('sample_training_data.csv'),
      '--model-name',
      'production-model',
      '--experiment-name',
      'production-model',
    ]);
    t.is(first.code, 0, first.stderr);
    t.is(first.json.version, 1);
    t.true((first.json.holdout_metrics as { accuracy: number }).accuracy > 0.95);
    t.true((first.json.parity as { passed: boolean }).passed);
    t.is(
      (
        await quiver([
          'promote',
          '--data-dir',
          dataDir,
          '--model-name',
          'production-model',
          '--version',
          '1',
          '--stage',
          'Production',
          '--description',
          'Initial production deployment',
        ])
      ).code,
      0,
    );
    // The CLI promoted in its own process: the server's audit-log poll (100 ms here) finds it.
    const firstTook = await eventually(async () => (await servedVersion(srv.client)) === '1', 'version 1 served');

    // Flow 1: new data arrives with a shifted distribution and a changed rule.
    t.is(
      (
        await quiver([
          'data',
          'generate',
          '--output',
          d('new_training_data.csv'),
          '--rows',
          '500',
          '--seed',
          '123',
          '--mean',
          '0.2',
          '--std',
          '1.2',
          '--weights',
          '1,1,0.3',
        ])
      ).code,
      0,
    );
    t.is(
      (await quiver(['data', 'validate', '--data-path', d('new_training_data.csv'), '--output', d('new_data_validation.json')])).code,
      0,
    );
    const second = await quiver([
      'train',
      '--data-dir',
      dataDir,
      '--data-path',
      d('new_training_data.csv'),
      '--model-name',
      'production-model',
      '--experiment-name',
      'production-model-retrain',
      '--algorithm',
      'gbdt',
    ]);
    t.is(second.code, 0, second.stderr);
    t.is(second.json.version, 2);
    const evaluation = await quiver([
      'evaluate',
      '--data-dir',
      dataDir,
      '--model-uri',
      'production-model:2',
      '--test-data',
      d('new_training_data.csv'),
      '--output-report',
      d('model_evaluation.json'),
    ]);
    const report = JSON.parse(readFileSync(d('model_evaluation.json'), 'utf8')) as {
      candidate: { version: number; metrics: { accuracy: number }; confusionMatrix: number[][] };
      production: { version: number; metrics: { accuracy: number } };
      comparison: { beats: boolean };
    };
    t.is(report.candidate.version, 2);
    t.is(report.production.version, 1);
    t.is(
      report.candidate.confusionMatrix.flat().reduce((a, b) => a + b, 0),
      500,
    );
    t.is(evaluation.code, report.comparison.beats ? 0 : 1);
    t.true(report.comparison.beats, `candidate ${report.candidate.metrics.accuracy} vs production ${report.production.metrics.accuracy}`);
    // A margin it cannot beat: exit code 1, nothing promoted.
    const strict = await quiver([
      'evaluate',
      '--data-dir',
      dataDir,
      '--model-uri',
      'production-model:2',
      '--test-data',
      d('new_training_data.csv'),
      '--output-report',
      d('strict.json'),
      '--margin',
      '0.5',
    ]);
    t.is(strict.code, 1);
    t.is(await servedVersion(srv.client), '1');

    // Promote: every prediction now comes from the new version.
    t.is(
      (await quiver(['promote', '--data-dir', dataDir, '--model-name', 'production-model', '--version', '2', '--stage', 'Production']))
        .code,
      0,
    );
    const took = await eventually(async () => (await servedVersion(srv.client)) === '2', 'version 2 served');
    t.log(`served the promotions after ${firstTook} and ${took} ms`);
    // Found by the next 100 ms poll and loaded: a few hundred ms on an idle machine, seconds on
    // an overloaded one. Promptly, with no restart, means within 5 s, or three times what the
    // first promotion took on this machine just now when that is longer.
    const bound = Math.max(5000, 3 * firstTook);
    t.true(took < bound, `served the promotion after ${took} ms (bound ${bound} ms)`);
    for (let i = 0; i < 20; i++) t.is(await servedVersion(srv.client), '2');

    // The registry kept the lineage and the audit trail.
    const reg = new RegistryClient(srv.registryAddress);
    try {
      const v2 = await reg.call<{
        version: {
          lineage: {
            datasetRows: number;
            algorithm: string;
            experimentName: string;
            datasetSha256: string;
            metrics: Map<string, number>;
            profile: { features: unknown[] };
          };
          stage: number;
        };
      }>('getVersion', { modelName: 'production-model', version: '2' });
      t.is(v2.version.lineage.datasetRows, 500);
      t.is(v2.version.lineage.algorithm, 'gbdt');
      t.is(v2.version.lineage.experimentName, 'production-model-retrain');
      t.regex(v2.version.lineage.datasetSha256, /^[0-9a-f]{64}$/);
      t.true((v2.version.lineage.metrics.get('roc_auc') ?? 0) > 0.9);
      t.is(v2.version.lineage.profile.features.length, 10);
      const v1 = await reg.call<{ version: { stage: number } }>('getVersion', { modelName: 'production-model', version: '1' });
      t.is(v1.version.stage, 4); // STAGE_ARCHIVED: promote archives the previous Production by default
    } finally {
      reg.close();
    }
  } finally {
    await srv.close();
  }
});

test('npm start on an empty data directory trains, registers and promotes production-model, and a restart serves it without retraining', async (t) => {
  const dataDir = tmp('quiver-start-');
  for (let start = 0; start < 2; start++) {
    const child = await startCli(['--demo', '--data-dir', dataDir]);
    const client = new Client(`127.0.0.1:${child.port}`);
    const reg = new RegistryClient(`127.0.0.1:${child.registryPort}`);
    try {
      const res = await client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
      t.is(res.modelVersion, '1');
      t.is(res.prediction, 1);
      const versions = await reg.call<{
        versions: Array<{ version: number; stage: number; lineage: { datasetRows: number; metrics: Map<string, number> } }>;
      }>('listVersions', {
        modelName: 'production-model',
      });
      t.is(versions.versions.length, 1);
      t.is(versions.versions[0]!.stage, 3); // STAGE_PRODUCTION
      t.is(versions.versions[0]!.lineage.datasetRows, 1000);
      t.true((versions.versions[0]!.lineage.metrics.get('accuracy') ?? 0) > 0.95);
    } finally {
      client.close();
      reg.close();
      child.proc.kill('SIGTERM');
      await child.exited;
    }
  }
  t.true(readFileSync(join(dataDir, 'data', 'sample_training_data.csv'), 'utf8').startsWith('feature_0,'));
});
