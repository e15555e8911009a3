/**
 * The README's quick start, verbatim, as CI runs it: `npm start` with no flags and no QUIVER_*
 * variables (default ports, ./var) reports grpc.health.v1 SERVING within 60 s; the README's
 * runnable examples, read from README.md itself (grpcurl, curl, the Python grpcio snippet
 * with its stub generation, the TypeScript snippet), run against it and answer with the
 * shapes the README shows; SIGTERM makes `npm start` exit 0; a second `npm start` on the same
 * ./var serves the registered version 1 without training again.
 *
 * In a clean clone (no ./var, as in CI) it runs in the repository itself and removes what it
 * made there; where a developer's ./var exists, in a mirror of the repository (symlinks to
 * its entries, but a ./var of its own). It needs the default ports: test/alone/ runs alone.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { checkHealth } from '../../src/grpc/health-client.js';
import { tmp } from '../helpers/fixtures.js';
import { grpcurl, parseGrpcurl } from '../helpers/grpcurl.js';
import { eventually } from '../helpers/wait.js';
import { PYTHON } from '../helpers/python.js';
import { requiredBlocks, shapeOf, shellCommands, shellWords } from '../helpers/readme-examples.js';
import { Registry } from '../helpers/registry.js';
import { ROOT } from '../helpers/process.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const PORTS = { grpc: 50051, rest: 8080, metrics: 9464, registry: 50052, registryRest: 8081 };
const GRPC = `127.0.0.1:${PORTS.grpc}`;
/** The bound from `npm start` to SERVING; everything else waits generously. */
const SERVING_WITHIN_MS = 60_000;
const SEEDED = 'trained, registered and promoted the demo model';
const SAMPLE_DATA = join('var', 'data', 'sample_training_data.csv');

/** A user's shell: no QUIVER_* settings, and none of the npm_* variables `npm test` sets for its own scripts. */
const userEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('QUIVER_') && !k.startsWith('npm_')));
/** Debian's python3 (the one with python3-grpcio) first on PATH, as on the CI machine. */
const pythonEnv = (): NodeJS.ProcessEnv => {
  const env = userEnv();
  return { ...env, PATH: `${dirname(PYTHON)}:${env.PATH ?? ''}` };
};

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env, timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
    );
  });
}

/** Fails with a clear message when something already listens on a port the quick start needs. */
function assertFree(name: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          err.code === 'EADDRINUSE'
            ? `port ${port} (${name}) is in use: the quick start test needs the default ports; stop what listens there (ss -ltnp)`
            : `cannot probe port ${port}: ${err.message}`,
        ),
      ),
    );
    probe.listen(port, '0.0.0.0', () => probe.close(() => resolve()));
  });
}

interface LogEntry {
  readonly msg?: string;
  readonly [key: string]: unknown;
}

/** `npm start` as a user types it, its output kept line by line. */
class NpmStart {
  readonly proc;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly startedAt = Date.now();
  done = false;

  constructor(cwd: string) {
    // Its own process group, so that a failed test can stop npm and the server together.
    this.proc = spawn('npm', ['start'], { cwd, env: userEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const collect = (stream: NodeJS.ReadableStream): void => {
      let pending = '';
      stream.on('data', (d: Buffer) => {
        pending += d.toString();
        let nl;
        while ((nl = pending.indexOf('\n')) >= 0) {
          this.lines.push(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
        }
      });
    };
    collect(this.proc.stdout);
    collect(this.proc.stderr);
    this.exited = new Promise((resolve) =>
      this.proc.on('close', (code, signal) => {
        this.done = true;
        resolve({ code, signal });
      }),
    );
  }

  /** The server's JSON log entries. */
  entries(): LogEntry[] {
    return this.lines.flatMap((line) => {
      try {
        const entry = JSON.parse(line) as unknown;
        return entry !== null && typeof entry === 'object' ? [entry as LogEntry] : [];
      } catch {
        return [];
      }
    });
  }

  logged(msg: string): LogEntry[] {
    return this.entries().filter((e) => e.msg === msg);
  }

  output(): string {
    return this.lines.join('\n');
  }

  /** Polls grpc.health.v1 Check (overall) on a fresh channel each time until SERVING; rejects on exit or after the bound. */
  async serving(withinMs: number): Promise<number> {
    let last = 'no answer yet';
    while (Date.now() - this.startedAt < withinMs) {
      if (this.done) throw new Error(`npm start exited before SERVING:\n${this.output()}`);
      try {
        // A channel of its own: no reconnect backoff carried over from refused connections.
        const status = await checkHealth(GRPC, '', 2000, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
        if (status === 'SERVING') {
          const tookMs = Date.now() - this.startedAt;
          // The health status turns SERVING just before the server logs it: wait for the line too.
          await this.logLine('quiver serving');
          return tookMs;
        }
        last = status;
      } catch (err) {
        last = (err as Error).message;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`no grpc.health.v1 SERVING within ${withinMs / 1000} s (last: ${last}):\n${this.output()}`);
  }

  /** Resolves once the server has logged `msg`. */
  async logLine(msg: string, timeoutMs = 30_000): Promise<LogEntry> {
    const t0 = Date.now();
    for (;;) {
      const entry = this.logged(msg)[0];
      if (entry !== undefined) return entry;
      if (this.done || Date.now() - t0 > timeoutMs) throw new Error(`npm start did not log '${msg}':\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM to npm itself (as a process manager sends it); resolves with npm's exit. */
  async terminate(timeoutMs = 60_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.proc.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => {
      timer = setTimeout(
        () => reject(new Error(`npm start still running ${timeoutMs / 1000} s after SIGTERM:\n${this.output()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops whatever is left of its process group (a failed test). */
  kill(): void {
    if (this.done || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * Where `npm start` runs: the repository itself in a clean clone (no ./var), else a mirror of
 * it, so that a developer's ./var is neither used nor touched. `made` lists what the test
 * creates in the repository, removed at the end.
 */
function workingCopy(): { dir: string; made: string[] } {
  if (!existsSync(join(ROOT, 'var'))) return { dir: ROOT, made: [join(ROOT, 'var')] };
  const dir = tmp('quiver-quickstart-');
  for (const entry of readdirSync(ROOT)) if (entry !== 'var') symlinkSync(join(ROOT, entry), join(dir, entry));
  return { dir, made: [dir] };
}

const { dir: CWD, made: MADE } = workingCopy();
const servers: NpmStart[] = [];
/** What the first start's gRPC Predict answered, for the snippets to agree with. */
let grpcAnswer: { prediction: number; probabilities: number[] } | undefined;
let sampleMtimeMs = 0;

test.after.always(() => {
  for (const s of servers) s.kill();
  for (const path of MADE) rmSync(path, { recursive: true, force: true });
});

const answered = (): { prediction: number; probabilities: number[] } => {
  if (grpcAnswer === undefined) throw new Error('no gRPC Predict answer to compare with (an earlier step failed)');
  return grpcAnswer;
};

/** What the snippets print, `<prediction> <probabilities as a list>`, read back as numbers. */
function printedAnswer(stdout: string): { prediction: number; probabilities: unknown } {
  const [prediction, ...rest] = stdout.trim().split(' ');
  return { prediction: Number(prediction), probabilities: JSON.parse(rest.join(' ')) as unknown };
}

const current = (): NpmStart => {
  const s = servers[servers.length - 1];
  if (s === undefined || s.done) throw new Error('npm start is not running (an earlier step failed)');
  return s;
};

test.serial('npm start, no flags and no QUIVER_* variables, reports grpc.health.v1 SERVING within 60 s on an empty ./var', async (t) => {
  t.timeout(SERVING_WITHIN_MS + 30_000);
  for (const [name, port] of Object.entries(PORTS)) await assertFree(name, port);
  t.false(existsSync(join(CWD, 'var')));
  const server = new NpmStart(CWD);
  servers.push(server);
  const tookMs = await server.serving(SERVING_WITHIN_MS);
  t.log(`SERVING after ${(tookMs / 1000).toFixed(1)} s (in ${CWD === ROOT ? 'the repository' : 'a mirror of it'})`);
  // It did the blueprint's setup: sample data in ./var, version 1 trained, registered, promoted.
  t.is(server.logged(SEEDED).length, 1, server.output());
  t.like(server.logged(SEEDED)[0], { model: 'production-model', version: 1 });
  sampleMtimeMs = statSync(join(CWD, SAMPLE_DATA)).mtimeMs;
  const serving = server.logged('quiver serving')[0];
  t.like(serving, {
    grpcPort: PORTS.grpc,
    httpPort: PORTS.rest,
    metricsPort: PORTS.metrics,
    registryPort: PORTS.registry,
    registryHttpPort: PORTS.registryRest,
  });
});

test.serial("the README's grpcurl calls answer, Predict with the shape the README shows", async (t) => {
  t.timeout(60_000);
  current();
  const commands = requiredBlocks(README, 'example', 'grpcurl').flatMap(shellCommands);
  const expected = JSON.parse(requiredBlocks(README, 'output', 'predict')[0]!) as unknown;
  const methods: string[] = [];
  for (const command of commands) {
    const call = parseGrpcurl(shellWords(command.text));
    methods.push(call.method);
    const answer = await grpcurl(call);
    t.true(Object.keys(answer).length > 0, command.text);
    if (call.method === 'quiver.v1.PredictionService/Predict') {
      t.deepEqual(shapeOf(answer), shapeOf(expected), `${command.text}\nanswered ${JSON.stringify(answer)}`);
      t.like(answer, { modelName: 'production-model', modelVersion: '1' });
      grpcAnswer = { prediction: answer.prediction as number, probabilities: answer.probabilities as number[] };
    }
    if (command.output !== undefined) t.deepEqual(shapeOf(answer), shapeOf(command.output), command.text);
  }
  t.true(methods.includes('quiver.v1.PredictionService/Predict'), 'the README calls Predict with grpcurl');
  t.true(methods.includes('grpc.health.v1.Health/Check'), 'the README checks health with grpcurl');
});

test.serial("the README's curl commands succeed, /predict and the others with the JSON shapes the README shows", async (t) => {
  t.timeout(120_000);
  current();
  const commands = requiredBlocks(README, 'example', 'curl').flatMap(shellCommands);
  let predicted = false;
  for (const command of commands) {
    t.true(command.text.startsWith('curl '), command.text);
    const res = await run('bash', ['-c', command.text], CWD, userEnv());
    t.is(res.code, 0, `${command.text}\n${res.stderr}`);
    t.not(res.stdout.trim(), '', command.text);
    if (command.output !== undefined) {
      t.deepEqual(shapeOf(JSON.parse(res.stdout)), shapeOf(command.output), `${command.text}\nanswered ${res.stdout}`);
      if (/localhost:8080\/predict\s/.test(command.text)) {
        predicted = true;
        t.like(JSON.parse(res.stdout), { model_name: 'production-model', model_version: '1', prediction: answered().prediction });
      }
    } else if (res.stdout.trimStart().startsWith('{')) {
      // No answer shown: it still must not be an error (the blueprint's `error`, or a status's `code` and `message`).
      const answer = JSON.parse(res.stdout) as object;
      t.false('error' in answer || ('code' in answer && 'message' in answer), `${command.text}\nanswered ${res.stdout}`);
    }
  }
  t.true(predicted, 'the README shows what POST /predict answers');
});

test.serial("the README's Python grpcio snippet runs on the stubs its command generates", async (t) => {
  t.timeout(120_000);
  current();
  const [stubs] = requiredBlocks(README, 'example', 'python-stubs').flatMap(shellCommands);
  const outDir = /--python_out=(\S+)/.exec(stubs!.text)?.[1];
  t.truthy(outDir, `the stub command names its output folder: ${stubs!.text}`);
  const folder = join(CWD, outDir!);
  if (CWD === ROOT && !existsSync(folder)) MADE.push(folder);
  const generated = await run('bash', ['-c', stubs!.text], CWD, pythonEnv());
  t.is(generated.code, 0, `${stubs!.text}\n${generated.stderr}`);

  // Saved next to the stubs, as the README says, so that `python3 <folder>/<file>` finds them.
  const script = join(folder, `quickstart-${process.pid}.py`);
  writeFileSync(script, requiredBlocks(README, 'example', 'python')[0]!);
  try {
    const res = await run('python3', [script], CWD, pythonEnv());
    t.is(res.code, 0, res.stderr);
    t.deepEqual(printedAnswer(res.stdout), answered(), res.stdout);
  } finally {
    rmSync(script, { force: true });
  }
});

test.serial("the README's TypeScript snippet runs with npx tsx from the repository root", async (t) => {
  t.timeout(120_000);
  current();
  // In the repository root, where its `./src/gen/...` import resolves.
  const script = join(CWD, `quickstart-${process.pid}.ts`);
  writeFileSync(script, requiredBlocks(README, 'example', 'typescript')[0]!);
  try {
    const res = await run('npx', ['tsx', script], CWD, userEnv());
    t.is(res.code, 0, res.stderr);
    t.deepEqual(printedAnswer(res.stdout), answered(), res.stdout);
  } finally {
    rmSync(script, { force: true });
  }
});

test.serial('SIGTERM to npm start reaches the server, which drains and exits; npm start exits 0', async (t) => {
  t.timeout(90_000);
  const server = current();
  const exit = await server.terminate();
  t.deepEqual(exit, { code: 0, signal: null }, server.output());
  t.like(server.logged('signal received')[0], { signal: 'SIGTERM' });
  t.is(server.logged('stopped').length, 1, server.output());
});

test.serial('npm start again on the same ./var serves production-model version 1 without training again', async (t) => {
  t.timeout(SERVING_WITHIN_MS + 90_000);
  for (const [name, port] of Object.entries(PORTS)) await assertFree(name, port);
  const server = new NpmStart(CWD);
  servers.push(server);
  await server.serving(SERVING_WITHIN_MS);
  t.deepEqual(server.logged(SEEDED), [], 'no new training');
  t.is(statSync(join(CWD, SAMPLE_DATA)).mtimeMs, sampleMtimeMs, 'the sample data was not written again');
  t.like(server.logged('quiver serving')[0], { models: ['production-model@1'] });

  const registry = new Registry(`127.0.0.1:${PORTS.registry}`);
  try {
    const { versions } = await registry.call<{ versions: Array<{ version: number; stage: number }> }>('listVersions', {
      modelName: 'production-model',
    });
    t.deepEqual(
      versions.map((v) => v.version),
      [1],
    );
  } finally {
    registry.raw.close();
  }
  const [predict] = requiredBlocks(README, 'example', 'grpcurl')
    .flatMap(shellCommands)
    .map((c) => parseGrpcurl(shellWords(c.text)))
    .filter((c) => c.method === 'quiver.v1.PredictionService/Predict');
  const answer = await grpcurl(predict!);
  t.like(answer, { modelVersion: '1', prediction: answered().prediction });
  t.deepEqual(answer.probabilities, answered().probabilities);
});

test.serial(
  "the README's flow (new data, validate, retrain, evaluate, promote) runs as written and the running server serves version 2",
  async (t) => {
    t.timeout(300_000);
    const server = current();
    const script = requiredBlocks(README, 'example', 'flows')[0]!;
    const made = ['new_data_validation.json', 'model_evaluation.json'].map((f) => join(CWD, f));
    if (CWD === ROOT) MADE.push(...made.filter((f) => !existsSync(f)));
    const res = await run('bash', ['-c', script], CWD, userEnv(), 240_000);
    t.is(
      res.code,
      0,
      `${script}
${res.stdout}
${res.stderr}`,
    );
    const [predict] = requiredBlocks(README, 'example', 'grpcurl')
      .flatMap(shellCommands)
      .map((c) => parseGrpcurl(shellWords(c.text)))
      .filter((c) => c.method === 'quiver.v1.PredictionService/Predict');
    // The server follows the promotion made by another process (the registry poll); wait for it.
    await eventually(async () => (await grpcurl(predict!)).modelVersion === '2', 'the server serves version 2', 60_000);

    const exit = await server.terminate();
    t.deepEqual(exit, { code: 0, signal: null }, server.output());
  },
);
