/**
 * The registry's database goes away (a TCP proxy in front of PostgreSQL is cut): serving
 * continues from what is loaded with zero failed requests, registry calls answer UNAVAILABLE
 * with a clear message, health says so per service, and when the database is back the server
 * catches up with a promotion made while it was cut off.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { Stage } from '../src/gen/quiver/v1/registry.js';
import { checkHealth } from '../src/grpc/health-client.js';
import { Registry as RegistryLibrary } from '../src/registry/registry.js';
import { POSTGRES } from './helpers/backends.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, sumModel, tmp } from './helpers/fixtures.js';
import { Registry } from './helpers/registry.js';
import { grpcError, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

/** The follower's audit-log poll here. */
const POLL_MS = 200;
/** One health Check's deadline: a call that cannot even be answered fails the test. */
const CHECK_MS = 10_000;

/** A TCP proxy to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
  }
}

test('PostgreSQL unreachable: inference goes on, the registry answers UNAVAILABLE, health says so per service, and it catches up after', async (t) => {
  t.timeout(90_000);
  const db = await POSTGRES.create();
  const direct = new URL(db.url);
  const proxy = new CuttableProxy(direct.hostname, Number(direct.port || 5432));
  await proxy.up();
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  const srv = await startServer({ registryUrl: viaProxy.toString(), registryPollMs: POLL_MS });
  const reg = new Registry(srv.registryAddress);
  try {
    await reg.upload({ modelName: 'steady' }, demoModel());
    await reg.upload({ modelName: 'steady' }, sumModel());
    await reg.call('transitionStage', { modelName: 'steady', version: 1, stage: Stage.STAGE_PRODUCTION });
    const predict = () => srv.client.predict({ modelName: 'steady', features: blueprintFeatures(BLUEPRINT_ROW) });
    await eventually(async () => (await predict().catch(() => undefined))?.modelVersion === '1', 'version 1 served');

    // Continuous inference across the whole outage.
    let running = true;
    const versions: string[] = [];
    const failures: unknown[] = [];
    const lanes = Array.from({ length: 4 }, async () => {
      while (running) {
        try {
          versions.push((await predict()).modelVersion);
        } catch (err) {
          failures.push(err);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    });

    await proxy.cut();
    // The registry says it is unavailable; inference keeps going.
    const down = await grpcError(reg.call('listRegisteredModels', {}));
    t.is(down.code, grpc.status.UNAVAILABLE);
    t.regex(down.details, /the registry database is unavailable/);
    await eventually(
      async () => (await checkHealth(srv.address, 'quiver.v1.RegistryService', CHECK_MS)) === 'NOT_SERVING',
      'registry health NOT_SERVING',
    );
    t.is(await checkHealth(srv.registryAddress, '', CHECK_MS), 'NOT_SERVING');
    t.is(await checkHealth(srv.address, 'quiver.v1.PredictionService', CHECK_MS), 'SERVING');
    t.is(await checkHealth(srv.address, '', CHECK_MS), 'SERVING');
    const writeDown = await grpcError(reg.call('transitionStage', { modelName: 'steady', version: 2, stage: Stage.STAGE_PRODUCTION }));
    t.is(writeDown.code, grpc.status.UNAVAILABLE);
    const rest = await fetch(`${srv.registryHttp}/v1/registry/models`);
    t.is(rest.status, 503);

    // Meanwhile someone promotes version 2 straight in the database (another replica, the CLI).
    const other = await RegistryLibrary.open({ dataDir: tmp(), maxUploadBytes: 1 << 26, url: db.url, trialLoad: false } as Parameters<
      typeof RegistryLibrary.open
    >[0]);
    await other.transitionStage('steady', 2, 'Production', true, 'while cut off', 'ops');
    await other.close();
    // Nothing can be seen to change: give the follower a few polls (each fails) and the lanes
    // some answers after the promotion. (Only a lower bound on time: more does no harm.)
    const answeredBefore = versions.length;
    await new Promise((r) => setTimeout(r, 3 * POLL_MS));
    await eventually(() => versions.length >= answeredBefore + 50, 'answers after the promotion');
    t.true(versions.length > 0);
    t.false(versions.includes('2'), 'nothing changes while the registry is unreachable');

    // The database is back: health recovers and the missed promotion is served.
    await proxy.up();
    await eventually(
      async () => (await checkHealth(srv.address, 'quiver.v1.RegistryService', CHECK_MS).catch(() => '')) === 'SERVING',
      'registry health SERVING again',
    );
    await eventually(() => versions.slice(-20).every((v) => v === '2') && versions.includes('2'), 'the missed promotion served');
    t.is(((await reg.call('listRegisteredModels', {})) as { models: unknown[] }).models.length, 1);
    running = false;
    await Promise.all(lanes);
    t.deepEqual(failures, [], 'no inference request failed during the outage');
  } finally {
    reg.close();
    await srv.close();
    await proxy.cut();
    await db.drop();
  }
});
