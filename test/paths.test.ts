/**
 * Relative paths, from a working directory that is not the repository: every command runs in
 * a fresh temporary directory and is given paths relative to it. Flags and environment values
 * resolve against the command's working directory, a config file's values against the file's
 * own directory. The trial load (a child process that runs in the system temp directory) must
 * still find the artifact: a relative data directory once broke it. The tests run one at a
 * time: each starts whole servers, and a 2-core machine runs them better in turn.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { PredictionServiceClient } from '../src/gen/quiver/v1/prediction.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, regressorModel, tmp, writeModel } from './helpers/fixtures.js';
import { CLI, type Child, startCli, TSX } from './helpers/process.js';
import { Registry as RegistryClient } from './helpers/registry.js';
import { Client, request } from './helpers/server.js';

const exec = promisify(execFile);
const READER_TOKEN = 'reader-token-0123456789';

/** Runs a `quiver` command (from source) in `cwd`; resolves with its exit code and output. */
async function quiver(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['--import', TSX, CLI, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function stop(child: { proc: ChildProcess; exited: Promise<unknown> }): Promise<void> {
  child.proc.kill('SIGTERM');
  await child.exited;
}

/** The JSON log entry with this message. */
function logEntry(child: Child, msg: string): Record<string, unknown> | undefined {
  for (const line of child.logs) {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.msg === msg) return entry;
    } catch {
      // not a JSON log line
    }
  }
  return undefined;
}

/** The registered files of an embedded registry in `dataDir`: the database and the artifacts. */
function registryFiles(dataDir: string): { db: boolean; artifacts: number } {
  const root = join(dataDir, 'artifacts', 'sha256');
  const artifacts = existsSync(root) ? readdirSync(root).flatMap((prefix) => readdirSync(join(root, prefix))).length : 0;
  return { db: existsSync(join(dataDir, 'registry.db')), artifacts };
}

/** The demo model answers, and the registry holds it in Production (it passed its trial load). */
async function servesDemo(child: Child): Promise<{ version: string; stage: number }> {
  const client = new Client(`127.0.0.1:${child.port}`);
  const reg = new RegistryClient(`127.0.0.1:${child.registryPort}`);
  try {
    const res = await client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
    const { versions } = await reg.call<{ versions: Array<{ stage: number }> }>('listVersions', { modelName: 'production-model' });
    return { version: res.modelVersion, stage: versions[0]?.stage ?? -1 };
  } finally {
    client.close();
    reg.close();
  }
}

const PRODUCTION = { version: '1', stage: 3 }; // STAGE_PRODUCTION

test.serial('serve --data-dir ./data from another directory: the demo model passes its trial load and its files land there', async (t) => {
  const cwd = tmp('quiver-cwd-');
  const child = await startCli(['--demo', '--data-dir', './data'], {}, [], cwd);
  try {
    t.deepEqual(await servesDemo(child), PRODUCTION);
    t.is(logEntry(child, 'trained, registered and promoted the demo model')?.data, join(cwd, 'data', 'data', 'sample_training_data.csv'));
  } finally {
    await stop(child);
  }
  t.deepEqual(registryFiles(join(cwd, 'data')), { db: true, artifacts: 1 });
});

test.serial('QUIVER_DATA_DIR=rel resolves against the working directory of serve', async (t) => {
  const cwd = tmp('quiver-cwd-');
  const child = await startCli(['--demo'], { QUIVER_DATA_DIR: 'state/quiver' }, [], cwd);
  try {
    t.deepEqual(await servesDemo(child), PRODUCTION);
  } finally {
    await stop(child);
  }
  t.deepEqual(registryFiles(join(cwd, 'state', 'quiver')), { db: true, artifacts: 1 });
});

test.serial("a config file's relative paths resolve against the file's own directory, not the working directory", async (t) => {
  const cwd = tmp('quiver-cwd-');
  const conf = join(cwd, 'conf');
  mkdirSync(join(conf, 'models'), { recursive: true });
  writeModel(join(conf, 'models'), 'byo.onnx', regressorModel());
  writeFileSync(
    join(conf, 'quiver.json'),
    JSON.stringify({ dataDir: 'state', demo: true, models: [{ name: 'byo', path: 'models/byo.onnx' }] }),
  );
  const child = await startCli(['--config', 'conf/quiver.json'], {}, [], cwd);
  try {
    t.deepEqual(await servesDemo(child), PRODUCTION);
    const client = new Client(`127.0.0.1:${child.port}`);
    try {
      const names = (await client.listModels()).models.map((m) => m.name).sort();
      t.deepEqual(names, ['byo', 'production-model']);
    } finally {
      client.close();
    }
  } finally {
    await stop(child);
  }
  t.deepEqual(registryFiles(join(conf, 'state')), { db: true, artifacts: 1 });
  t.false(existsSync(join(cwd, 'state')), 'nothing under the working directory');
});

test.serial('--model name=rel/model.onnx and --model-repository rel/repo from another directory', async (t) => {
  const cwd = tmp('quiver-cwd-');
  mkdirSync(join(cwd, 'files'));
  writeModel(join(cwd, 'files'), 'byo.onnx', demoModel());
  mkdirSync(join(cwd, 'repo', 'repo-model', '3'), { recursive: true });
  writeModel(join(cwd, 'repo', 'repo-model', '3'), 'model.onnx', demoModel());
  const child = await startCli(['--data-dir', './d', '--model', 'byo=files/byo.onnx', '--model-repository', 'repo'], {}, [], cwd);
  const client = new Client(`127.0.0.1:${child.port}`);
  try {
    const features = blueprintFeatures(BLUEPRINT_ROW);
    t.is((await client.predict({ modelName: 'byo', features })).modelVersion, '1');
    t.is((await client.predict({ modelName: 'repo-model', features })).modelVersion, '3');
  } finally {
    client.close();
    await stop(child);
  }
  t.true(existsSync(join(cwd, 'd', 'registry.db')));
});

/** A CA (ca.crt) and a server certificate for 127.0.0.1/localhost (server.crt, server.key), written to `dir`. */
function makeCertificates(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ca');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=server');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-extfile',
    'server.ext',
  );
}

/** An HTTPS GET verified against `ca`; resolves with the status. */
function httpsGet(url: string, ca: Buffer, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { ca, servername: 'localhost', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** `quiver gateway ...` in `cwd`, once it logs 'quiver gateway serving' (with its port). */
function startGateway(cwd: string, args: string[]): Promise<{ proc: ChildProcess; httpPort: number; exited: Promise<unknown> }> {
  const proc = spawn(process.execPath, ['--import', TSX, CLI, 'gateway', '--http-host', '127.0.0.1', '--http-port', '0', ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const output: string[] = [];
  return new Promise((resolve, reject) => {
    proc.stderr.on('data', (d: Buffer) => output.push(d.toString()));
    proc.stdout.on('data', (d: Buffer) => {
      output.push(d.toString());
      const served = /"httpPort":(\d+)[^\n]*"msg":"quiver gateway serving"/.exec(output.join(''));
      if (served !== null) resolve({ proc, httpPort: Number(served[1]), exited });
    });
    void exited.then((code) => reject(new Error(`quiver gateway exited early with ${String(code)}: ${output.join('')}`)));
  });
}

test.serial('TLS files and a tokens file given relative: serve, quiver health and quiver gateway from another directory', async (t) => {
  const cwd = tmp('quiver-cwd-');
  makeCertificates(join(cwd, 'pki'));
  mkdirSync(join(cwd, 'secrets'));
  writeFileSync(join(cwd, 'secrets', 'tokens'), `reader registry:read ${READER_TOKEN}\n`);
  const ca = readFileSync(join(cwd, 'pki', 'ca.crt'));
  const tlsFlags = ['--tls-cert', 'pki/server.crt', '--tls-key', 'pki/server.key', '--auth-tokens-file', 'secrets/tokens'];
  const child = await startCli(['--demo', '--data-dir', './data', ...tlsFlags], {}, [], cwd);
  try {
    const client = new PredictionServiceClient(`127.0.0.1:${child.port}`, grpc.credentials.createSsl(ca), {
      'grpc.ssl_target_name_override': 'localhost',
    });
    try {
      const version = await new Promise<string>((resolve, reject) =>
        client.predict(request({ features: blueprintFeatures(BLUEPRINT_ROW) }), (err, res) =>
          err ? reject(err) : resolve(res.modelVersion),
        ),
      );
      t.is(version, '1');
    } finally {
      client.close();
    }
    const models = `https://127.0.0.1:${child.registryHttpPort}/v1/registry/models`;
    t.is(await httpsGet(models, ca), 401, 'the tokens file is in force');
    t.is(await httpsGet(models, ca, READER_TOKEN), 200);
    // quiver health verifies the server against a CA file given relative to its own directory.
    const health = await quiver(cwd, ['health', '--tls', '--tls-ca', 'pki/ca.crt', '--address', `127.0.0.1:${child.port}`]);
    t.is(health.code, 0, health.stderr);
    t.is(health.stdout.trim(), 'SERVING');

    const gateway = await startGateway(cwd, ['--upstream', `127.0.0.1:${child.port}`, ...tlsFlags]);
    try {
      const viaGateway = `https://127.0.0.1:${gateway.httpPort}/v1/registry/models`;
      t.is(await httpsGet(viaGateway, ca), 401, 'the gateway serves TLS with the relative files and applies the tokens file');
      t.not(await httpsGet(viaGateway, ca, READER_TOKEN), 401);
    } finally {
      await stop(gateway);
    }
  } finally {
    await stop(child);
  }
});

test.serial(
  'CLI from another directory: data generate, train, registry versions and promote (trial load) with relative paths',
  async (t) => {
    const cwd = tmp('quiver-cwd-');
    // The output's folder is made here: this test is about where relative paths land, not about making folders.
    mkdirSync(join(cwd, 'rel'));
    const generated = await quiver(cwd, ['data', 'generate', '--output', 'rel/x.csv', '--rows', '400']);
    t.is(generated.code, 0, generated.stderr);
    t.true(readFileSync(join(cwd, 'rel', 'x.csv'), 'utf8').startsWith('feature_0,'));

    const trained = await quiver(cwd, [
      'train',
      '--data-path',
      'rel/x.csv',
      '--model-name',
      'm',
      '--data-dir',
      './d',
      '--report',
      'rel/report.json',
      '--no-progress',
    ]);
    t.is(trained.code, 0, trained.stderr);
    t.like(JSON.parse(trained.stdout), { model: 'm', version: 1 });
    t.true(existsSync(join(cwd, 'rel', 'report.json')));
    t.deepEqual(registryFiles(join(cwd, 'd')), { db: true, artifacts: 1 });

    const versions = await quiver(cwd, ['registry', 'versions', '--model-name', 'm', '--data-dir', './d']);
    t.is(versions.code, 0, versions.stderr);
    t.deepEqual(
      (JSON.parse(versions.stdout) as Array<{ version: number }>).map((v) => v.version),
      [1],
    );

    const promoted = await quiver(cwd, ['promote', '--model-name', 'm', '--version', '1', '--stage', 'Production', '--data-dir', './d']);
    t.is(promoted.code, 0, promoted.stderr);
    t.like(JSON.parse(promoted.stdout), { model: 'm', version: 1, stage: 'Production' });
  },
);
