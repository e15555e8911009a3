/**
 * Untrusted models: before a version is promoted (a stage or an alias) it is trial-loaded in
 * a child process under a time and a memory limit and run once on a sample input. Real
 * models, a real server, the real registry and the real CLI; the crash is a real onnxruntime
 * crash (an integer division overflow traps on x86-64).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { Code, QuiverError } from '../src/core/errors.js';
import { Stage } from '../src/gen/quiver/v1/registry.js';
import { Registry as LocalRegistry } from '../src/registry/registry.js';
import type { AuditRecord } from '../src/registry/types.js';
import {
  BLUEPRINT_ROW,
  blueprintFeatures,
  unknownOpModel,
  divOverflowModel,
  reshapeMismatchModel,
  spinModel,
  sumModel,
  tmp,
} from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';
import { Registry as RegistryClient } from './helpers/registry.js';
import { grpcError, type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// Long enough for a good model's trial (starting Node under tsx and onnxruntime: about 0.5 s
// idle, several seconds on a loaded machine), short enough for the hanging model's test.
const TIMEOUT_MS = 10_000;
const MAX_MEMORY_MB = 300;

// Integer division overflow traps (SIGFPE) on x86-64; other CPUs return a value instead.
const CRASHES = process.arch === 'x64';

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

const upload = (registry: LocalRegistry, modelName: string, bytes: Uint8Array): Promise<{ version: number }> =>
  registry.createVersion({ modelName, description: '', tags: {}, lineage: undefined, expectedSha256: '' }, once(bytes), 'tester');

const audit = async (registry: LocalRegistry, model: string): Promise<string[]> =>
  (await registry.auditLog(model, 1000, '')).items.map((e: AuditRecord) => `${e.action}:${e.version ?? ''}:${e.alias ?? ''}`);

/** The promise's QuiverError; fails the test if it resolves or throws something else. */
async function refused(p: Promise<unknown>): Promise<QuiverError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof QuiverError) return err;
    throw err;
  }
  throw new Error('expected the promotion to be refused, but it succeeded');
}

let srv: Running;

test.before(async () => {
  srv = await startServer({ registryPollMs: 100, trialTimeoutMs: TIMEOUT_MS, trialMaxMemoryMb: MAX_MEMORY_MB });
});

test.after.always(async () => {
  await srv?.close();
});

const registry = (): LocalRegistry => srv.server.registry as LocalRegistry;

/** Waits until the server answers for the model with this version (true), or fails the test. */
async function served(model: string, version: string): Promise<boolean> {
  const answer = (): Promise<string> =>
    srv.client
      .predict({ modelName: model, features: blueprintFeatures(BLUEPRINT_ROW) })
      .then((r) => r.modelVersion)
      .catch(() => '');
  await eventually(async () => (await answer()) === version, `model '${model}' version ${version} served`);
  return true;
}

test.serial('a good model passes its trial and is promoted and served; the pass is recorded and holds for the same bytes', async (t) => {
  const r = registry();
  const { version } = await upload(r, 'good', sumModel());
  const before = r.trialsRun;
  const promoted = await r.transitionStage('good', version, 'Production', true, undefined, 'tester');
  t.is(promoted.stage, 'Production');
  t.is(r.trialsRun, before + 1);
  t.true(await served('good', '1'));
  // The same artifact again (an alias, Staging under another name): no second trial.
  await r.setAlias('good', 'champion', version, 'tester');
  const twin = await upload(r, 'good-twin', sumModel());
  await r.transitionStage('good-twin', twin.version, 'Staging', true, undefined, 'tester');
  t.is(r.trialsRun, before + 1);
  t.deepEqual(await audit(r, 'good'), ['create_model::', 'create_version:1:', 'transition_stage:1:', 'set_alias:1:champion']);
  // The pass is in the registry (no audit row: a trial changes nothing anyone follows).
  t.like(await r.recordedTrial(await r.resolveVersion('good', '1')), { modelName: 'good', version: 1, outcome: 'passed', reason: '' });
});

test.serial(
  'a model that hangs the runtime is refused after trialTimeoutMs while the server keeps serving Production, with no failed request and nothing written',
  async (t) => {
    const r = registry();
    await upload(r, 'spin', sumModel(2));
    await r.transitionStage('spin', 1, 'Production', true, undefined, 'tester');
    t.true(await served('spin', '1'));
    await upload(r, 'spin', spinModel());
    const rows = await audit(r, 'spin');

    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const versions = new Set<string>();
    const load = (async () => {
      while (!stop) {
        try {
          const res = await srv.client.predict({ modelName: 'spin', features: blueprintFeatures(BLUEPRINT_ROW) });
          versions.add(res.modelVersion);
          ok++;
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    })();
    const err = await refused(r.transitionStage('spin', 2, 'Production', true, undefined, 'tester'));
    stop = true;
    await load;

    t.is(err.code, 'QUIVER_ERR_MODEL_LOAD');
    t.is(err.grpcStatus, Code.FAILED_PRECONDITION);
    t.is(
      err.message,
      `trial load of model 'spin' version 2 did not finish within ${TIMEOUT_MS} ms (trialTimeoutMs): the model hangs or is too slow`,
    );
    t.deepEqual(failures, []);
    t.true(ok > 10, `only ${ok} requests answered during the trial`);
    t.deepEqual([...versions], ['1']);
    t.deepEqual(await audit(r, 'spin'), rows, 'a refused promotion writes no audit row');
    // The refusal is recorded: promoting it again refuses at once, with no second trial.
    t.like(await r.recordedTrial(await r.resolveVersion('spin', '2')), { outcome: 'failed', reason: err.message });
    const trials = r.trialsRun;
    const again = await refused(r.setAlias('spin', 'challenger', 2, 'tester'));
    t.is(again.message, err.message);
    t.is(r.trialsRun, trials);
    t.deepEqual((await r.getModel('spin')).aliases, { production: 1 });
    t.is((await r.resolveVersion('spin', '2')).stage, 'None');
  },
);

test.serial('a model that takes too much memory is killed at trialMaxMemoryMb; one that cannot even allocate is refused too', async (t) => {
  const r = registry();
  // Two 256 MiB tensors held while the Loop spins: over the limit long before the time limit.
  await upload(r, 'hog', spinModel(64 * 1024 * 1024));
  const rows = await audit(r, 'hog');
  const err = await refused(r.setAlias('hog', 'champion', 1, 'tester'));
  t.is(err.code, 'QUIVER_ERR_MODEL_LOAD');
  t.regex(
    err.message,
    new RegExp(
      `^trial load of model 'hog' version 1 was stopped: it used \\d+ MiB of memory, over the limit of ${MAX_MEMORY_MB} MiB \\(trialMaxMemoryMb\\)$`,
    ),
  );
  t.deepEqual(await audit(r, 'hog'), rows);
  t.deepEqual((await r.getModel('hog')).aliases, {});

  // 256 GiB at once: the allocation itself fails, and the error says so.
  await upload(r, 'hog', spinModel(64 * 1024 * 1024 * 1024));
  const huge = await refused(r.transitionStage('hog', 2, 'Production', true, undefined, 'tester'));
  t.regex(
    huge.message,
    /^trial load of model 'hog' version 2 failed: onnxruntime cannot run it on a sample input \(it needs more memory than the limit of 300 MiB allows\): .*allocate/,
  );
  t.deepEqual(await audit(r, 'hog'), [...rows, 'create_version:2:']);
});

test.serial("a model that fails at run time or at load is refused with onnxruntime's message", async (t) => {
  const r = registry();
  await upload(r, 'reshape', reshapeMismatchModel());
  const rows = await audit(r, 'reshape');
  const err = await refused(r.transitionStage('reshape', 1, 'Staging', true, undefined, 'tester'));
  t.is(err.code, 'QUIVER_ERR_MODEL_LOAD');
  t.regex(err.message, /^trial load of model 'reshape' version 1 failed: onnxruntime cannot run it on a sample input: .*Reshape/);
  t.regex(err.message, /cannot be reshaped to the requested shape\. Input shape:\{1,3\}, requested shape:\{-1,5\}/);
  t.deepEqual(await audit(r, 'reshape'), rows);

  await upload(r, 'unknown-op', unknownOpModel());
  const load = await refused(r.transitionStage('unknown-op', 1, 'Production', true, undefined, 'tester'));
  t.regex(load.message, /^trial load of model 'unknown-op' version 1 failed: onnxruntime cannot load it: .*Frobnicate/);
});

test.serial(
  'a model that crashes the runtime is refused naming the signal (over gRPC: FAILED_PRECONDITION); the server is unaffected',
  async (t) => {
    const r = registry();
    await upload(r, 'crashy', divOverflowModel());
    const rows = await audit(r, 'crashy');
    const address = (srv as Running & { registryAddress?: string }).registryAddress || srv.address;
    const client = new RegistryClient(address);
    try {
      const promote = client.call('transitionStage', { modelName: 'crashy', version: 1, stage: Stage.STAGE_PRODUCTION });
      if (!CRASHES) {
        await promote;
        t.pass('integer division overflow does not trap on this CPU');
        return;
      }
      const err = await grpcError(promote);
      t.is(err.code, grpc.status.FAILED_PRECONDITION);
      t.is(err.details, "trial load of model 'crashy' version 1 failed: the model crashed the runtime (signal SIGFPE)");
      t.deepEqual(await audit(r, 'crashy'), rows);
      t.deepEqual((await r.getModel('crashy')).aliases, {});
      // The server never noticed.
      t.true(await served('good', '1'));
    } finally {
      client.close();
    }
  },
);

test.serial('trialLoad: false skips the trial; a registry opened as a library trials by default', async (t) => {
  const dataDir = tmp('quiver-trial-');
  const off = await LocalRegistry.open({ dataDir, maxUploadBytes: 1 << 24, trialLoad: false });
  try {
    await upload(off, 'spin', spinModel());
    const v = await off.transitionStage('spin', 1, 'Production', true, undefined, 'tester');
    t.is(v.stage, 'Production');
    t.is(off.trialsRun, 0);
  } finally {
    await off.close();
  }
  const on = await LocalRegistry.open({ dataDir, maxUploadBytes: 1 << 24, trialTimeoutMs: 1000 });
  try {
    await upload(on, 'spin', spinModel(8));
    const err = await refused(on.setAlias('spin', 'challenger', 2, 'tester'));
    t.regex(err.message, /^trial load of model 'spin' version 2 did not finish within 1000 ms/);
    t.is(on.trialsRun, 1);
    // Taking a version out of service needs no trial.
    await on.transitionStage('spin', 1, 'Archived', false, undefined, 'tester');
    t.is(on.trialsRun, 1);
  } finally {
    await on.close();
  }
});

const run = promisify(execFile);

async function quiver(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test.serial('quiver promote runs the trial too (limits from the environment) and exits 1 naming the cause', async (t) => {
  const dataDir = tmp('quiver-trial-cli-');
  const r = await LocalRegistry.open({ dataDir, maxUploadBytes: 1 << 24, trialLoad: false });
  await upload(r, 'spin', spinModel());
  const rows = await audit(r, 'spin');
  await r.close();
  const args = ['promote', '--data-dir', dataDir, '--model-name', 'spin', '--version', '1', '--stage', 'Production'];

  const refusedRun = await quiver(args, { QUIVER_TRIAL_TIMEOUT_MS: '1500' });
  t.is(refusedRun.code, 1, refusedRun.stderr);
  t.is(
    refusedRun.stderr.trim(),
    "quiver: trial load of model 'spin' version 1 did not finish within 1500 ms (trialTimeoutMs): the model hangs or is too slow",
  );

  const after = await LocalRegistry.open({ dataDir, maxUploadBytes: 1 << 24, trialLoad: false });
  try {
    t.deepEqual(await audit(after, 'spin'), rows);
  } finally {
    await after.close();
  }

  // The failure is recorded in the registry: with trial loads off, version 1 is still refused, at once.
  const recorded = await quiver(args, { QUIVER_TRIAL_LOAD: 'false' });
  t.is(recorded.code, 1, recorded.stderr);
  t.is(recorded.stderr.trim(), refusedRun.stderr.trim());

  // Trial loads off skip the trial of a version with nothing recorded.
  const again = await LocalRegistry.open({ dataDir, maxUploadBytes: 1 << 24, trialLoad: false });
  try {
    t.is((await upload(again, 'spin', spinModel(16))).version, 2);
  } finally {
    await again.close();
  }
  const skipped = await quiver(['promote', '--data-dir', dataDir, '--model-name', 'spin', '--version', '2', '--stage', 'Production'], {
    QUIVER_TRIAL_LOAD: 'false',
  });
  t.is(skipped.code, 0, skipped.stderr);
  t.like(JSON.parse(skipped.stdout), { model: 'spin', version: 2, stage: 'Production' });
});
