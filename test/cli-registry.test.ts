import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { BLUEPRINT_ROW, blueprintFeatures, demoModel, regressorModel, tmp, writeModel } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';
import { startServer } from './helpers/server.js';

const run = promisify(execFile);

async function quiver(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('quiver registry upload / versions / list / audit and quiver promote, with a running server following from another process', async (t) => {
  const dataDir = tmp('quiver-data-');
  const dir = tmp();
  const srv = await startServer({ dataDir, registryPollMs: 100 });
  try {
    const up = await quiver([
      'registry',
      'upload',
      '--data-dir',
      dataDir,
      '--model-name',
      'byo',
      '--file',
      writeModel(dir, 'a.onnx', demoModel()),
      '--description',
      'sklearn export',
    ]);
    t.is(up.code, 0, up.stderr);
    t.like(JSON.parse(up.stdout), { model: 'byo', version: 1, stage: 'None', description: 'sklearn export' });
    const up2 = await quiver([
      'registry',
      'upload',
      '--data-dir',
      dataDir,
      '--model-name',
      'byo',
      '--file',
      writeModel(dir, 'b.onnx', regressorModel()),
    ]);
    t.is(JSON.parse(up2.stdout).version, 2);
    const promote = await quiver([
      'promote',
      '--data-dir',
      dataDir,
      '--model-name',
      'byo',
      '--version',
      '1',
      '--stage',
      'Production',
      '--description',
      'Initial production deployment',
    ]);
    t.is(promote.code, 0, promote.stderr);
    t.like(JSON.parse(promote.stdout), {
      version: 1,
      stage: 'Production',
      aliases: ['production'],
      description: 'Initial production deployment',
    });
    // The server, another process as far as the registry is concerned, follows by polling.
    const t0 = Date.now();
    let served = '';
    while (served !== '1' && Date.now() - t0 < 3000) {
      served = await srv.client
        .predict({ modelName: 'byo', features: blueprintFeatures(BLUEPRINT_ROW) })
        .then((r) => r.modelVersion)
        .catch(() => '');
    }
    t.is(served, '1');
    const alias = await quiver(['promote', '--data-dir', dataDir, '--model-name', 'byo', '--version', '2', '--alias', 'challenger']);
    t.deepEqual(JSON.parse(alias.stdout).aliases, ['challenger']);
    const versions = JSON.parse((await quiver(['registry', 'versions', '--data-dir', dataDir, '--model-name', 'byo'])).stdout) as Array<{
      version: number;
      stage: string;
    }>;
    t.deepEqual(
      versions.map((v) => [v.version, v.stage]),
      [
        [1, 'Production'],
        [2, 'None'],
      ],
    );
    const production = JSON.parse(
      (await quiver(['registry', 'versions', '--data-dir', dataDir, '--model-name', 'byo', '--stage', 'production'])).stdout,
    ) as unknown[];
    t.is(production.length, 1);
    const list = JSON.parse((await quiver(['registry', 'list', '--data-dir', dataDir])).stdout) as Array<{ name: string; aliases: object }>;
    t.deepEqual(list, [{ name: 'byo', latest_version: 2, aliases: { challenger: 2, production: 1 }, description: '' }]);
    const audit = JSON.parse((await quiver(['registry', 'audit', '--data-dir', dataDir, '--model-name', 'byo'])).stdout) as Array<{
      action: string;
      actor: string;
    }>;
    t.deepEqual(
      audit.map((a) => a.action),
      ['create_model', 'create_version', 'create_version', 'transition_stage', 'set_alias'],
    );
    t.regex(audit[0]!.actor, /@/);
    const bad = await quiver(['promote', '--data-dir', dataDir, '--model-name', 'byo', '--version', '1', '--stage', 'Prod']);
    t.is(bad.code, 2);
    t.regex(bad.stderr, /--stage: 'Prod' is not a stage; use Production, Staging, Archived or None/);
    const missing = await quiver(['registry', 'upload', '--data-dir', dataDir, '--model-name', '../etc', '--file', join(dir, 'a.onnx')]);
    t.is(missing.code, 2);
    t.regex(missing.stderr, /metadata\.model_name: "\.\.\/etc" is not a valid name/);
  } finally {
    await srv.close();
  }
});
