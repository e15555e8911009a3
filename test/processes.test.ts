/**
 * `quiver serve --processes N` (src/serving/cluster-primary.ts), run as users run it: the CLI in
 * a child process, real grpc-js clients on separate connections, the REST gateway, the
 * embedded SQLite registry the processes share.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { get } from 'node:http';
import { promisify } from 'node:util';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { Stage } from '../src/gen/quiver/v1/registry.js';
import { blueprintFeatures, BLUEPRINT_ROW, demoVariant, tmp } from './helpers/fixtures.js';
import { CLI, type Child, ROOT, startCli, TSX } from './helpers/process.js';
import { Registry } from './helpers/registry.js';
import { Client } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const MODEL = 'production-model';

/** GET over a connection of its own (no keep-alive agent), so that each lands on the process the primary picks next. */
function freshGet(url: string): Promise<string> {
  return new Promise((resolve, reject) =>
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject),
  );
}

/** gRPC clients that each hold a connection of their own (grpc-js would otherwise share one subchannel). */
const clients = (port: number, n: number): Client[] =>
  Array.from({ length: n }, () => new Client(`127.0.0.1:${port}`, { 'grpc.use_local_subchannel_pool': 1 }));

/** The server processes' pids, from the primary's 'quiver serving' line. */
function pidsOf(child: Child): number[] {
  for (const line of child.logs) {
    try {
      const entry = JSON.parse(line) as { msg?: string; process?: number; pids?: number[] };
      if (entry.msg === 'quiver serving' && entry.process === undefined && entry.pids !== undefined) return entry.pids;
    } catch {
      // not a JSON log line
    }
  }
  return [];
}

/** Whether a process runs (a zombie, exited but not yet reaped by whoever inherited it, does not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The processes whose working directory is `dir` (a server's processes run where it was started). */
function processesIn(dir: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/cwd`) === dir;
      } catch {
        return false;
      }
    })
    .map(Number);
}

const okPredictions = (metrics: string): number =>
  Number(/^ml_predictions_total\{model="production-model",version="1",status="ok",code="OK"\} (\S+)$/m.exec(metrics)?.[1] ?? NaN);

test('--processes 2: both processes serve the shared ports, /metrics sums them, a promotion reaches both, a killed one is started again, SIGTERM drains all', async (t) => {
  const dir = tmp('quiver-processes-');
  const child = await startCli(['--demo', '--processes', '2', '--data-dir', 'var'], {}, [], dir);
  const conns = clients(child.port, 8);
  const registry = new Registry(`127.0.0.1:${child.registryPort}`);
  try {
    const pids = pidsOf(child);
    t.is(pids.length, 2);
    t.true(pids.every(alive));
    t.true(pids.every((p) => p !== child.proc.pid));

    // 8 connections, 5 calls each: the primary hands connections to the processes in turn.
    for (const c of conns)
      for (let i = 0; i < 5; i++)
        t.is((await c.predict({ modelName: MODEL, features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion, '1');

    // Each process's /stats is its own (told apart by when it loaded the model); together they hold every call.
    const byProcess = new Map<string, number>();
    await eventually(async () => {
      const stats = JSON.parse(await freshGet(`http://127.0.0.1:${child.httpPort}/stats`)) as {
        versions: Array<{ loaded_at: string; requests: number }>;
      };
      const v = stats.versions[0]!;
      byProcess.set(v.loaded_at, v.requests);
      return byProcess.size === 2;
    }, "both processes' /stats");
    t.is(
      [...byProcess.values()].reduce((a, b) => a + b, 0),
      40,
    );
    t.true(
      [...byProcess.values()].every((n) => n > 0 && n < 40),
      JSON.stringify([...byProcess]),
    );

    // The metrics port (the primary's) and the REST port's /metrics (any process's) both give the sum.
    t.is(okPredictions(await freshGet(`http://127.0.0.1:${child.metricsPort}/metrics`)), 40);
    for (let i = 0; i < 4; i++) t.is(okPredictions(await freshGet(`http://127.0.0.1:${child.httpPort}/metrics`)), 40);

    // A promotion through the registry plane (served by the processes too) reaches every process.
    const uploaded = await registry.upload({ modelName: MODEL }, demoVariant({ tag: 'processes' }));
    t.is(uploaded.version?.version, 2);
    await registry.call('transitionStage', { modelName: MODEL, version: 2, stage: Stage.STAGE_PRODUCTION, archiveExisting: true });
    for (const c of conns)
      await eventually(
        async () => (await c.predict({ modelName: MODEL, features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion === '2',
        'every connection served by version 2',
      );

    // A process that dies is started again; the other serves meanwhile, and the new one joins.
    process.kill(pids[0]!, 'SIGKILL');
    let restarted = 0;
    await eventually(() => {
      const line = child.logs.find((l) => l.includes('serving again'));
      restarted = line === undefined ? 0 : (JSON.parse(line) as { pid: number }).pid;
      return restarted > 0;
    }, 'the killed process to be started again');
    t.not(restarted, pids[0]);
    t.true(alive(restarted));
    const fresh = clients(child.port, 4);
    try {
      for (const c of fresh) t.is((await c.predict({ modelName: MODEL, features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion, '2');
    } finally {
      for (const c of fresh) c.close();
    }

    // SIGTERM to the primary drains every process; it exits 0 once they have.
    child.proc.kill('SIGTERM');
    const { code } = await child.exited;
    t.is(code, 0, child.logs.join('\n'));
    t.false(alive(restarted));
    t.false(alive(pids[1]!));
    t.deepEqual(processesIn(realpathSync(dir)), []);
    t.is(child.logs.filter((l) => l.includes('"msg":"stopped"')).length, 3, 'two processes and the primary stopped');
  } finally {
    for (const c of conns) c.close();
    registry.raw.close();
    child.proc.kill('SIGKILL');
  }
});

test('--processes: a port in use is one line and exit 1 with no process left; a bad count is a usage error', async (t) => {
  const run = promisify(execFile);
  const dir = tmp('quiver-processes-');
  const taken = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) =>
    taken.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  try {
    const failed = await run(
      process.execPath,
      [
        '--import',
        TSX,
        CLI,
        'serve',
        '--demo',
        '--processes',
        '2',
        '--grpc-host',
        '127.0.0.1',
        '--grpc-port',
        String(port),
        '--data-dir',
        'var',
      ],
      { cwd: dir },
    ).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    t.is(failed?.code, 1);
    t.is(failed?.stderr, `quiver: could not start: port ${port} (grpcPort) is in use: pick another with --grpc-port or QUIVER_GRPC_PORT\n`);
    t.deepEqual(processesIn(realpathSync(dir)), [], 'no server process is left behind');
  } finally {
    taken.forceShutdown();
  }
  const usage = await run(process.execPath, ['--import', TSX, CLI, 'serve', '--processes', '0'], { cwd: ROOT }).then(
    () => undefined,
    (err: { code: number; stderr: string }) => err,
  );
  t.is(usage?.code, 2);
  t.regex(usage?.stderr ?? '', /^quiver: .*processes.*\n$/);
});

test('--processes: when the primary is killed, its processes drain and exit, leaving none behind', async (t) => {
  const dir = tmp('quiver-processes-');
  const child = await startCli(['--demo', '--processes', '2', '--data-dir', 'var'], {}, [], dir);
  const pids = pidsOf(child);
  t.is(pids.length, 2);
  child.proc.kill('SIGKILL');
  await child.exited;
  await eventually(() => processesIn(realpathSync(dir)).length === 0, 'every server process to exit');
  t.false(pids.some(alive));
  // Each drained (Node's cluster would otherwise exit it at once, cutting its calls).
  t.is(child.logs.filter((l) => l.includes('"msg":"stopping: the primary is gone"')).length, 2, child.logs.join('\n'));
});
