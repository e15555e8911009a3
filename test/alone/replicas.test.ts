/**
 * Scale-out for real: three `quiver serve` processes on loopback share one PostgreSQL registry
 * (each with its own data directory, as pods would), under continuous traffic. A promotion made
 * through one replica is served by all three within a second (LISTEN/NOTIFY: the safety-net
 * poll is set to 60 s here, so it cannot be what delivers it) with zero failed requests; a
 * replica killed with SIGKILL leaves the others serving; restarted, it serves the current
 * Production version.
 */
import test from 'ava';

import { Stage } from '../../src/gen/quiver/v1/registry.js';
import { POSTGRES } from '../helpers/backends.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, sumModel, tmp } from '../helpers/fixtures.js';
import { type Child, startCli } from '../helpers/process.js';
import { Registry } from '../helpers/registry.js';
import { Client } from '../helpers/server.js';

interface Answer {
  readonly replica: number;
  readonly startedAt: number;
  readonly version: string;
}

const PROPAGATION_MS = 1000;

async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test.serial(
  'three replicas share a PostgreSQL registry: promotions reach all within 1 s with zero failures, and a killed replica catches up',
  async (t) => {
    t.timeout(90_000);
    const db = await POSTGRES.create();
    const start = (dataDir: string): Promise<Child> =>
      startCli(['--registry-url', db.url, '--data-dir', dataDir, '--registry-poll-ms', '60000', '--workers', '1']);
    const dirs = [tmp('quiver-r0-'), tmp('quiver-r1-'), tmp('quiver-r2-')];
    const replicas: Child[] = [];
    const clients: Client[] = [];
    const registries: Registry[] = [];
    try {
      for (const dir of dirs) replicas.push(await start(dir));
      for (const r of replicas) {
        clients.push(new Client(`127.0.0.1:${r.port}`));
        registries.push(new Registry(`127.0.0.1:${r.registryPort}`));
      }
      const predict = (i: number): Promise<string> =>
        clients[i]!.predict({ modelName: 'fraud', features: blueprintFeatures(BLUEPRINT_ROW) }).then((r) => r.modelVersion);

      // Versions uploaded through replica 0; version 1 promoted through replica 0.
      await registries[0]!.upload({ modelName: 'fraud' }, demoModel());
      await registries[0]!.upload({ modelName: 'fraud' }, sumModel());
      await registries[0]!.call('transitionStage', { modelName: 'fraud', version: 1, stage: Stage.STAGE_PRODUCTION });
      for (let i = 0; i < 3; i++) await eventually(async () => (await predict(i).catch(() => '')) === '1');

      // Continuous traffic: 4 lanes per replica.
      const answers: Answer[] = [];
      const failures: Array<{ replica: number; error: string }> = [];
      const running = [true, true, true];
      const lanes = [0, 1, 2].flatMap((replica) =>
        Array.from({ length: 4 }, async () => {
          while (running[replica]) {
            const startedAt = Date.now();
            try {
              answers.push({ replica, startedAt, version: await predict(replica) });
            } catch (err) {
              if (running[replica]) failures.push({ replica, error: (err as Error).message });
            }
          }
        }),
      );
      await sleep(300);

      // Version 2 goes to Staging first, as in the blueprint (its trial load happens there),
      // then is promoted to Production through replica 1.
      await registries[1]!.call('transitionStage', { modelName: 'fraud', version: 2, stage: Stage.STAGE_STAGING });
      const promotedAt = Date.now();
      await registries[1]!.call('transitionStage', {
        modelName: 'fraud',
        version: 2,
        stage: Stage.STAGE_PRODUCTION,
        archiveExisting: true,
      });
      await sleep(PROPAGATION_MS + 500);
      for (let replica = 0; replica < 3; replica++) {
        const late = answers.filter((a) => a.replica === replica && a.startedAt >= promotedAt + PROPAGATION_MS);
        t.true(late.length > 10, `replica ${replica} answered ${late.length} requests after the deadline`);
        t.deepEqual([...new Set(late.map((a) => a.version))], ['2'], `replica ${replica} serves version 2 within ${PROPAGATION_MS} ms`);
        const firstTwo = answers.find((a) => a.replica === replica && a.version === '2');
        t.log(`replica ${replica}: first answer from version 2 began ${firstTwo!.startedAt - promotedAt} ms after the promotion call`);
      }
      t.deepEqual(failures, [], 'no request failed during the promotion');

      // SIGKILL replica 2: the others keep serving without a failure.
      running[2] = false;
      replicas[2]!.proc.kill('SIGKILL');
      t.is((await replicas[2]!.exited).signal, 'SIGKILL');
      const killedAt = Date.now();
      await sleep(500);
      // A promotion while it is down (back to version 1, through replica 0).
      await registries[0]!.call('transitionStage', {
        modelName: 'fraud',
        version: 1,
        stage: Stage.STAGE_PRODUCTION,
        archiveExisting: true,
      });
      const rePromotedAt = Date.now();
      await sleep(PROPAGATION_MS + 500);
      for (const replica of [0, 1]) {
        t.true(answers.filter((a) => a.replica === replica && a.startedAt >= killedAt).length > 10, `replica ${replica} kept serving`);
        const late = answers.filter((a) => a.replica === replica && a.startedAt >= rePromotedAt + PROPAGATION_MS);
        t.deepEqual([...new Set(late.map((a) => a.version))], ['1']);
      }
      t.deepEqual(failures, [], 'no request to the surviving replicas failed');

      // Restarted on its data directory, replica 2 serves the current Production version (1).
      clients[2]!.close();
      registries[2]!.close();
      replicas[2] = await start(dirs[2]!);
      clients[2] = new Client(`127.0.0.1:${replicas[2].port}`);
      registries[2] = new Registry(`127.0.0.1:${replicas[2].registryPort}`);
      t.is(await predict(2), '1');
      // And it follows promotions again: version 2 through the restarted replica reaches all three.
      running[2] = true;
      lanes.push(
        ...Array.from({ length: 4 }, async () => {
          while (running[2]) {
            const startedAt = Date.now();
            try {
              answers.push({ replica: 2, startedAt, version: await predict(2) });
            } catch (err) {
              if (running[2]) failures.push({ replica: 2, error: (err as Error).message });
            }
          }
        }),
      );
      await sleep(200);
      await registries[2]!.call('transitionStage', {
        modelName: 'fraud',
        version: 2,
        stage: Stage.STAGE_PRODUCTION,
        archiveExisting: true,
      });
      const lastPromotedAt = Date.now();
      await sleep(PROPAGATION_MS + 500);
      for (let replica = 0; replica < 3; replica++) {
        const late = answers.filter((a) => a.replica === replica && a.startedAt >= lastPromotedAt + PROPAGATION_MS);
        t.true(late.length > 10);
        t.deepEqual([...new Set(late.map((a) => a.version))], ['2'], `replica ${replica}`);
      }
      running.fill(false);
      await Promise.all(lanes);
      t.deepEqual(failures, []);
    } finally {
      for (const c of clients) c.close();
      for (const r of registries) r.close();
      for (const r of replicas) {
        if (r.proc.exitCode === null && r.proc.signalCode === null) {
          r.proc.kill('SIGTERM');
          await r.exited;
        }
      }
      await db.drop();
    }
  },
);

test.serial('replicas started together on an empty PostgreSQL registry with --demo seed the demo model exactly once', async (t) => {
  t.timeout(90_000);
  const db = await POSTGRES.create();
  const replicas: Child[] = [];
  try {
    replicas.push(
      ...(await Promise.all(
        [0, 1, 2].map(() => startCli(['--demo', '--registry-url', db.url, '--data-dir', tmp('quiver-seed-'), '--workers', '1'])),
      )),
    );
    const reg = new Registry(`127.0.0.1:${replicas[0]!.registryPort}`);
    try {
      const { versions } = await reg.call<{ versions: Array<{ version: number; stage: number }> }>('listVersions', {
        modelName: 'production-model',
      });
      t.deepEqual(
        versions.map((v) => [v.version, v.stage]),
        [[1, Stage.STAGE_PRODUCTION]],
      );
    } finally {
      reg.close();
    }
    for (const r of replicas) {
      const c = new Client(`127.0.0.1:${r.port}`);
      try {
        t.is((await c.predict({ features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion, '1');
      } finally {
        c.close();
      }
    }
  } finally {
    for (const r of replicas) {
      r.proc.kill('SIGTERM');
      await r.exited;
    }
    await db.drop();
  }
});
