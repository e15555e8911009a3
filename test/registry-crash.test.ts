import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { Registry } from '../src/registry/registry.js';
import { SqliteStorage } from '../src/registry/sqlite-store.js';
import { tmp } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';

/** Runs the writer until killed with SIGKILL after `ms`; returns the acknowledged lines. */
function runAndKill(dataDir: string, seed: number, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/registry-writer.ts', dataDir, String(seed)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    let pending = '';
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      lines.push(...parts);
      // Start the clock at the first write, so every cycle kills a busy writer.
      timer ??= setTimeout(() => child.kill('SIGKILL'), ms);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`writer exited with ${code}: ${stderr}`));
    });
  });
}

test('SIGKILL in the middle of uploads and promotions loses no acknowledged write and leaves a consistent registry', async (t) => {
  const dataDir = tmp('quiver-crash-');
  const acked: string[] = [];
  for (let cycle = 0; cycle < 8; cycle++) acked.push(...(await runAndKill(dataDir, cycle * 1000, 40 + ((cycle * 37) % 120))));
  t.true(acked.filter((l) => l.startsWith('upload')).length >= 8, `only ${acked.length} acknowledged writes`);

  const store = new SqliteStorage(join(dataDir, 'registry.db'));
  t.is(store.integrityCheck(), 'ok');
  await store.close();
  const registry = await Registry.open({ dataDir, maxUploadBytes: 1 << 20 });
  try {
    // Every acknowledged upload is there, with its bytes intact.
    for (const line of acked.filter((l) => l.startsWith('upload'))) {
      const [, name, version, sha] = line.split(' ') as [string, string, string, string];
      const v = await registry.store.getVersion(name, Number(version));
      t.is(v?.sha256, sha, line);
      await t.notThrowsAsync(registry.artifacts.readVerified(sha));
    }
    // Every acknowledged promotion has its audit row; no transition is recorded twice.
    const audit = (await registry.auditLog('', 1000, '')).items;
    const transitions = audit.filter((a) => a.action === 'transition_stage');
    for (const line of acked.filter((l) => l.startsWith('promote'))) {
      const [, name, version] = line.split(' ') as [string, string, string];
      t.is(transitions.filter((a) => a.modelName === name && a.version === Number(version)).length, 1, line);
    }
    const creates = audit.filter((a) => a.action === 'create_version');
    for (const model of (await registry.listModels(100, '')).items) {
      const versions = (await registry.listVersions(model.name, undefined, 1000, '')).items;
      // Exactly one Production version per model that was ever promoted.
      const production = versions.filter((v) => v.stage === 'Production');
      t.is(production.length, transitions.some((a) => a.modelName === model.name) ? 1 : 0, model.name);
      // One audit row per recorded version.
      for (const v of versions) t.is(creates.filter((a) => a.modelName === model.name && a.version === v.version).length, 1);
    }
    // No half-written upload survives a restart.
    t.deepEqual(readdirSync(join(dataDir, 'artifacts', 'tmp')), []);
  } finally {
    await registry.close();
  }
});
