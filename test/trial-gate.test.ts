/**
 * Nothing runs in the server's process before it passed a trial load (issue 11): not on demand
 * by number, not by alias, not on reload, not at start. Trial outcomes are recorded in the
 * registry (SQLite and PostgreSQL), so a restart or another replica neither trials a version
 * again nor serves it untrialed, and failed loads are not retried per request. Real servers,
 * real registries, real onnxruntime; the crash is a real SIGFPE (an integer division overflow
 * traps on x86-64; elsewhere a model that fails at run time stands in for it).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';

import { type ModelInferRequest_InferInputTensor } from '../src/gen/inference/grpc_predict_v2.js';
import { Stage } from '../src/gen/quiver/v1/registry.js';
import { check, healthClient } from '../src/grpc/health-client.js';
import { Registry as LocalRegistry } from '../src/registry/registry.js';
import { BACKENDS } from './helpers/backends.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, divOverflowModel, reshapeMismatchModel, sumModel, tmp } from './helpers/fixtures.js';
import { Registry as RegistryClient } from './helpers/registry.js';
import { Oip } from './helpers/oip.js';
import { grpcError, type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const M = 'production-model';
// Long enough for a verdict on a loaded 2-core machine (a busy CI run took over 10 s to start a trial child).
const TIMEOUT_MS = 60_000;
const MAX_MEMORY_MB = 300;

// Integer division overflow traps (SIGFPE) on x86-64; other CPUs return a value instead.
const CRASHES = process.arch === 'x64';
const badModel = (): Uint8Array => (CRASHES ? divOverflowModel() : reshapeMismatchModel());
const BAD_REASON = CRASHES
  ? `trial load of model '${M}' version 2 failed: the model crashed the runtime (signal SIGFPE)`
  : `trial load of model '${M}' version 2 failed: onnxruntime cannot run it on a sample input: `;
const FINAL = '; it is not served (a failed trial load is final for a version: upload a fixed one)';

const INT32_INPUT: ModelInferRequest_InferInputTensor = {
  name: 'x',
  datatype: 'INT32',
  shape: [1, 1],
  parameters: new Map(),
  contents: {
    boolContents: [],
    intContents: [0],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
  },
};

async function http(method: string, url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A counter's value on the metrics port (0 when the series does not exist). */
async function counter(srv: Running, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${srv.metrics}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf('}'));
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return 0;
}

const loadFailures = (srv: Running): Promise<number> => counter(srv, 'quiver_model_loads_total', { model: M, result: 'failure' });

const predict = (srv: Running, modelVersion: string, modelName = M): Promise<string> =>
  srv.client.predict({ modelName, modelVersion, features: blueprintFeatures(BLUEPRINT_ROW) }).then((r) => r.modelVersion);

async function health(srv: Running): Promise<string> {
  const client = healthClient(srv.address);
  try {
    return await check(client, '', 10_000);
  } finally {
    client.close();
  }
}

/** Every way a request can name version 2 answers the trial's failure, over gRPC and REST; the server stays up. */
async function refusedEverywhere(t: ExecutionContext, srv: Running, oip: Oip): Promise<void> {
  const expectFinal = (message: string, how: string): void => {
    t.true(message.startsWith(BAD_REASON), `${how}: ${message}`);
    t.true(message.endsWith(FINAL), `${how}: ${message}`);
    t.false(message.includes('\n'), `${how}: one line`);
  };
  // OIP REST, by version (anonymous, as in the finding).
  const rest = await http('POST', `${srv.http}/v2/models/${M}/versions/2/infer`, {
    inputs: [{ name: 'x', shape: [1, 1], datatype: 'INT32', data: [0] }],
  });
  t.is(rest.status, 400, JSON.stringify(rest.body));
  expectFinal(String(rest.body.error), 'OIP REST');
  // OIP gRPC ModelInfer with model_version.
  const oipErr = await grpcError(oip.infer({ modelVersion: '2', inputs: [INT32_INPUT] }));
  t.is(oipErr.code, grpc.status.FAILED_PRECONDITION);
  expectFinal(oipErr.details, 'OIP gRPC');
  // quiver.v1 Predict by number and by alias.
  for (const spec of ['2', 'canary']) {
    const err = await grpcError(predict(srv, spec));
    t.is(err.code, grpc.status.FAILED_PRECONDITION, `Predict ${spec}`);
    expectFinal(err.details, `Predict ${spec}`);
  }
  // The server is up and version 1 answers.
  t.is(await health(srv), 'SERVING');
  t.is(await predict(srv, ''), '1');
  t.is(await predict(srv, '1'), '1');
}

for (const backend of BACKENDS) {
  test.serial(
    `[${backend.name}] a version that crashes the runtime never loads in the server: by number (OIP REST and gRPC, Predict), by alias, at restart; one trial, recorded, and no retry per request`,
    async (t) => {
      const db = await backend.create();
      const dataDir = tmp('quiver-gate-');
      const flags = { dataDir, registryUrl: db.url, registryPollMs: 100, trialTimeoutMs: TIMEOUT_MS, trialMaxMemoryMb: MAX_MEMORY_MB };
      let srv: Running | undefined = await startServer(flags);
      let oip = new Oip(srv.address);
      const reg = new RegistryClient(srv.registryAddress);
      try {
        await reg.upload({ modelName: M }, demoModel());
        await reg.call('transitionStage', { modelName: M, version: 1, stage: Stage.STAGE_PRODUCTION });
        await eventually(async () => (await predict(srv!, '').catch(() => '')) === '1', 'version 1 served');
        // A registry:write client uploads the model as version 2 ...
        t.is((await reg.upload({ modelName: M }, badModel())).version!.version, 2);
        // ... and a pipeline that trusts it (trial loads off, another process) points an alias at it.
        const pipeline = await LocalRegistry.open({
          dataDir: db.url === '' ? dataDir : tmp(),
          maxUploadBytes: 1 << 24,
          url: db.url,
          trialLoad: false,
        });
        try {
          await pipeline.setAlias(M, 'canary', 2, 'pipeline');
        } finally {
          await pipeline.close();
        }
        const registry = srv.server.registry!;
        // The server follows the alias: the trial (in a child process) fails, and the alias is refused.
        await eventually(
          async () => (await grpcError(predict(srv!, 'canary'))).code === grpc.status.FAILED_PRECONDITION,
          'the alias answered with its failed trial',
        );
        t.is(registry.trialsRun, 2, 'one trial for version 1 (its promotion), one for version 2');
        const failuresBefore = await loadFailures(srv);
        t.is(failuresBefore, 1);

        for (let round = 0; round < 3; round++) await refusedEverywhere(t, srv, oip);
        // Twelve requests for the failed version: no new trial, no new load attempt.
        t.is(registry.trialsRun, 2);
        t.is(await loadFailures(srv), failuresBefore);
        t.is(srv.server.follower!.stats.loadFailures, 1);

        // The outcome is in the registry, for other replicas and restarts.
        const v2 = (await registry.store.getVersion(M, 2))!;
        const recorded = await registry.recordedTrial(v2);
        t.like(recorded, { modelName: M, version: 2, sha256: v2.sha256, outcome: 'failed' });
        t.true(recorded!.reason.startsWith(BAD_REASON), recorded!.reason);
        t.like(await registry.recordedTrial((await registry.store.getVersion(M, 1))!), { outcome: 'passed', reason: '' });

        // /stats lists it: final, so no next retry.
        const stats = await http('GET', `${srv.http}/stats`);
        t.is(stats.status, 200);
        const failures = stats.body.load_failures as Array<Record<string, unknown>>;
        t.is(failures.length, 1);
        t.like(failures[0], { model_name: M, model_version: '2', trial_failed: true });
        t.is(Number(failures[0]!.attempts), 1);
        t.true(String(failures[0]!.reason).startsWith(BAD_REASON));
        t.is(failures[0]!.next_retry_at ?? '', '');

        // Promoting it is refused from the record, without a second trial.
        const promote = await grpcError(reg.call('transitionStage', { modelName: M, version: 2, stage: Stage.STAGE_PRODUCTION }));
        t.is(promote.code, grpc.status.FAILED_PRECONDITION);
        t.true(promote.details.startsWith(BAD_REASON), promote.details);
        t.is(registry.trialsRun, 2);

        // A restart on the same registry: no trial at all (both outcomes are recorded), and the same answers.
        oip.close();
        await srv.close();
        srv = undefined;
        srv = await startServer(flags);
        oip = new Oip(srv.address);
        t.is(srv.server.registry!.trialsRun, 0);
        await refusedEverywhere(t, srv, oip);
        t.is(srv.server.registry!.trialsRun, 0);
        t.is(await loadFailures(srv), 1, 'the start-up sync tried it once');

        // With trial loads off, a recorded failure still refuses the version.
        oip.close();
        await srv.close();
        srv = undefined;
        srv = await startServer({ ...flags, trialLoad: false });
        oip = new Oip(srv.address);
        await refusedEverywhere(t, srv, oip);
        t.is(srv.server.registry!.trialsRun, 0);
      } finally {
        reg.close();
        oip.close();
        await srv?.close();
        await db.drop();
      }
    },
  );
}

test.serial(
  'a version that fails to load is retried with backoff, not per request; /stats shows attempts and the next retry; it loads once fixed',
  async (t) => {
    const dataDir = tmp('quiver-gate-');
    const srv = await startServer({ dataDir, registryPollMs: 100, trialTimeoutMs: TIMEOUT_MS, trialMaxMemoryMb: MAX_MEMORY_MB });
    const reg = new RegistryClient(srv.registryAddress);
    const follower = srv.server.follower!;
    // Long enough that no retry comes due while the test runs, however slow the machine.
    follower.retry.baseMs = 600_000;
    try {
      await reg.upload({ modelName: M }, demoModel());
      await reg.call('transitionStage', { modelName: M, version: 1, stage: Stage.STAGE_PRODUCTION });
      await eventually(async () => (await predict(srv, '').catch(() => '')) === '1', 'version 1 served');
      const bytes = sumModel();
      const v2 = (await reg.upload({ modelName: M }, bytes)).version!;
      // Flip a byte of the stored artifact: the load fails on the hash check (not a trial verdict).
      const file = join(dataDir, 'artifacts', 'sha256', v2.sha256.slice(0, 2), `${v2.sha256}.onnx`);
      const corrupted = Buffer.from(bytes);
      corrupted[corrupted.length - 3] = (corrupted[corrupted.length - 3] as number) ^ 0xff;
      writeFileSync(file, corrupted);

      const before = await loadFailures(srv);
      const trials = srv.server.registry!.trialsRun;
      for (let i = 0; i < 5; i++) {
        const err = await grpcError(predict(srv, '2'));
        t.is(err.code, grpc.status.FAILED_PRECONDITION);
        t.regex(
          err.details,
          new RegExp(
            `^model '${M}' version 2 cannot be loaded: artifact ${v2.sha256} is corrupted: its content hashes to [0-9a-f]{64}; it is not served; the next load attempt is due in \\d+ s \\(1 failed so far\\)$`,
          ),
        );
      }
      t.is(await loadFailures(srv), before + 1, 'one load attempt for five requests');
      t.is(srv.server.registry!.trialsRun, trials, 'no trial of an artifact that cannot be read');
      t.is(await health(srv), 'SERVING');
      const stats = await http('GET', `${srv.http}/stats?model=${M}`);
      const failures = stats.body.load_failures as Array<Record<string, unknown>>;
      t.is(failures.length, 1);
      t.like(failures[0], { model_name: M, model_version: '2' });
      t.is(failures[0]!.trial_failed ?? false, false);
      t.is(Number(failures[0]!.attempts), 1);
      t.true(Date.parse(String(failures[0]!.next_retry_at)) > Date.parse(String(failures[0]!.failed_at)));

      // Fixed, and the retry due: the next request loads it (trialed first), and /stats clears.
      writeFileSync(file, bytes);
      follower.retry.baseMs = 0;
      t.is(await predict(srv, '2'), '2');
      t.is(srv.server.registry!.trialsRun, trials + 1);
      t.deepEqual((await http('GET', `${srv.http}/stats`)).body.load_failures ?? [], []);
    } finally {
      reg.close();
      await srv.close();
    }
  },
);

test.serial('concurrent requests for an untrialed version share one trial and one load', async (t) => {
  const srv = await startServer({ registryPollMs: 100, trialTimeoutMs: TIMEOUT_MS, trialMaxMemoryMb: MAX_MEMORY_MB });
  const reg = new RegistryClient(srv.registryAddress);
  try {
    await reg.upload({ modelName: 'twice' }, demoModel());
    await reg.upload({ modelName: 'twice' }, sumModel());
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => predict(srv, String(1 + (i % 2)), 'twice').catch((err: Error) => err.message)),
    );
    t.deepEqual(answers.sort(), ['1', '1', '1', '1', '2', '2', '2', '2']);
    t.is(srv.server.registry!.trialsRun, 2);
    t.is(await counter(srv, 'quiver_model_loads_total', { model: 'twice', result: 'ok' }), 2);
  } finally {
    reg.close();
    await srv.close();
  }
});
