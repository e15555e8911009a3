import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { envName, OPTION_DEFS, resolveOptions } from '../src/config/options.js';
import { tmp } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';

test('defaults: gRPC 50051, HTTP 8080, data dir ./var (made absolute against the working directory), batching on, frozen', (t) => {
  const o = resolveOptions({ env: {} });
  t.is(o.grpcPort, 50051);
  t.is(o.httpPort, 8080);
  t.is(o.dataDir, join(process.cwd(), 'var'));
  t.is(resolveOptions({ env: {}, cwd: '/srv/app' }).dataDir, '/srv/app/var');
  t.is(o.maxBatchRows, 256);
  t.is(o.maxQueueDelayUs, 0);
  t.true(o.workers >= 1);
  t.true(o.intraOpThreads >= 1);
  t.true(Object.isFrozen(o));
  t.throws(() => {
    (o as { grpcPort: number }).grpcPort = 1;
  });
});

test('precedence: defaults < config file < environment < flags', (t) => {
  const file = { grpcPort: 1000, httpPort: 1001, dataDir: '/from-file' };
  const env = { QUIVER_GRPC_PORT: '2000', QUIVER_HTTP_PORT: '2001' };
  const o = resolveOptions({ file, filePath: 'q.json', env, flags: { grpcPort: '3000' } });
  t.is(o.grpcPort, 3000);
  t.is(o.httpPort, 2001);
  t.is(o.dataDir, '/from-file');
});

test('every option has a QUIVER_* environment variable', (t) => {
  t.is(envName('grpcPort'), 'QUIVER_GRPC_PORT');
  t.is(envName('maxQueueDelayUs'), 'QUIVER_MAX_QUEUE_DELAY_US');
  for (const def of OPTION_DEFS) t.regex(envName(def.key), /^QUIVER_[A-Z0-9_]+$/);
  const o = resolveOptions({
    env: { QUIVER_DATA_DIR: '/data', QUIVER_REJECT_NON_FINITE: 'false', QUIVER_MODELS: 'a=/m/a.onnx,b:3=/m/b.onnx' },
  });
  t.is(o.dataDir, '/data');
  t.false(o.rejectNonFinite);
  t.deepEqual(o.models, [
    { name: 'a', version: 1, path: '/m/a.onnx' },
    { name: 'b', version: 3, path: '/m/b.onnx' },
  ]);
});

test('invalid values are refused with a message naming the option, its source and the expectation', (t) => {
  const cases: Array<[Parameters<typeof resolveOptions>[0], string]> = [
    [{ env: { QUIVER_GRPC_PORT: 'abc' } }, `option grpcPort (env QUIVER_GRPC_PORT) must be an integer from 0 to 65535, got "abc"`],
    [{ flags: { grpcPort: '70000' } }, `option grpcPort (flag --grpc-port) must be an integer from 0 to 65535, got "70000"`],
    [{ flags: { workers: '0' } }, `option workers (flag --workers) must be an integer from 1 to 256, got "0"`],
    [
      { file: { maxQueueDelayUs: -5 }, filePath: 'q.json' },
      `option maxQueueDelayUs (config file q.json) must be an integer from 0 to 10000000 µs, got -5`,
    ],
    [
      { env: { QUIVER_REJECT_NON_FINITE: 'maybe' } },
      `option rejectNonFinite (env QUIVER_REJECT_NON_FINITE) must be a boolean (true/false), got "maybe"`,
    ],
    [
      { flags: { logLevel: 'loud' } },
      `option logLevel (flag --log-level) must be one of fatal, error, warn, info, debug, trace, silent, got "loud"`,
    ],
    [
      { flags: { models: ['Bad Name=x.onnx'] } },
      `option models (flag --model): model name 'Bad Name' must match ^[a-z0-9][a-z0-9._-]{0,63}$`,
    ],
    [{ flags: { models: ['x.onnx'] } }, `option models (flag --model): model 'x.onnx' must be name=path.onnx or name:version=path.onnx`],
    [{ flags: { models: ['m:0=x.onnx'] } }, `option models (flag --model): model version '0' must be a positive integer`],
    [{ flags: { models: ['m=a.onnx', 'm:1=b.onnx'] } }, `option models: m version 1 is given twice`],
    [{ file: { grpcPrt: 1 }, filePath: 'q.json' }, `config file q.json: unknown option 'grpcPrt'`],
  ];
  for (const [sources, message] of cases) {
    const err = t.throws(() => resolveOptions(sources));
    t.true(err!.message.startsWith(message), `${err!.message}\n  expected to start with\n${message}`);
    t.is((err as { code?: string }).code, 'QUIVER_ERR_INVALID_CONFIG');
  }
});

test('options that contradict each other are refused when options are resolved, naming the options', (t) => {
  const cases: Array<[Parameters<typeof resolveOptions>[0], string]> = [
    [
      { env: {}, flags: { driftWindow: 20, driftMinSamples: 30 } },
      'option driftMinSamples (30) must be at most driftWindow (20): the window never holds more rows',
    ],
    [{ env: {}, flags: { driftPsiThreshold: 0 } }, 'option driftPsiThreshold must be greater than 0, got 0'],
    [
      { env: {}, flags: { authInference: true } },
      'option authInference needs API tokens (authTokens or authTokensFile) with the infer scope',
    ],
    [
      { env: {}, flags: { registryHost: '0.0.0.0' } },
      'refusing to serve the registry on 0.0.0.0 without authentication: set authTokens or authTokensFile',
    ],
  ];
  for (const [sources, message] of cases) {
    const err = t.throws(() => resolveOptions(sources));
    t.true(err!.message.startsWith(message), `${err!.message}\n  expected to start with\n${message}`);
    t.is((err as { code?: string }).code, 'QUIVER_ERR_INVALID_CONFIG');
  }
  // What only the tokens' files can say (how many entries they hold) is checked at start.
  t.notThrows(() => resolveOptions({ env: {}, flags: { authInference: true, authTokensFile: '/run/secrets/tokens' } }));
  t.notThrows(() => resolveOptions({ env: {}, flags: { registryHost: '0.0.0.0', insecureRegistry: true } }));
  t.notThrows(() => resolveOptions({ env: {}, flags: { registryHost: '0.0.0.0', registry: false } }));
});

const run = promisify(execFile);

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
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

test('quiver CLI: help lists every option with its variable; bad input exits 2 with the message', async (t) => {
  const help = await cli(['serve', '--help']);
  t.is(help.code, 0);
  const flat = help.stdout.replace(/\s+/g, ' ');
  for (const def of OPTION_DEFS) t.true(flat.includes(envName(def.key)), def.key);
  const bad = await cli(['serve', '--grpc-port', 'x']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /option grpcPort \(flag --grpc-port\) must be an integer/);
  const unknownFlag = await cli(['serve', '--grcp-port', '1']);
  t.is(unknownFlag.code, 2);
  t.regex(
    unknownFlag.stderr,
    /^quiver: unknown option '--grcp-port' \(Did you mean --grpc-port\?\); --help lists the commands and their flags\n$/,
  );
  const unknownCommand = await cli(['serv']);
  t.is(unknownCommand.code, 2);
  t.regex(unknownCommand.stderr, /unknown command 'serv'/);
  const dir = tmp();
  const file = join(dir, 'q.json');
  writeFileSync(file, '{"grpcPort": "nope"}');
  const badFile = await cli(['serve', '--config', file]);
  t.is(badFile.code, 2);
  t.regex(badFile.stderr, /option grpcPort \(config file .*q\.json\) must be an integer/);
  writeFileSync(file, '{not json');
  const notJson = await cli(['serve'], { QUIVER_CONFIG: file });
  t.is(notJson.code, 2);
  t.regex(notJson.stderr, /config file .*q\.json: .*JSON/);
  const version = await cli(['version']);
  t.regex(version.stdout, /^quiver \d+\.\d+\.\d+/);
});

test('quiver serve with a model that does not load exits 1 and says why', async (t) => {
  const dir = tmp();
  const path = join(dir, 'x.onnx');
  writeFileSync(path, 'garbage');
  const res = await cli([
    'serve',
    '--grpc-port',
    '0',
    '--grpc-host',
    '127.0.0.1',
    '--registry-port',
    '0',
    '--http-port',
    '0',
    '--metrics-port',
    '0',
    '--model',
    `x=${path}`,
    '--log-level',
    'silent',
  ]);
  t.is(res.code, 1);
  t.regex(res.stderr, /could not start: model 'x' version 1: not an ONNX model/);
});

test('registryPollMs: 250 ms for the embedded registry, a 5 s safety net with PostgreSQL (which pushes changes), or what is set', (t) => {
  t.is(resolveOptions({ env: {} }).registryPollMs, 250);
  t.is(resolveOptions({ env: { QUIVER_REGISTRY_URL: 'postgres://u:p@db/quiver' } }).registryPollMs, 5000);
  t.is(
    resolveOptions({ env: { QUIVER_REGISTRY_URL: 'postgres://u:p@db/quiver' }, flags: { registryPollMs: '1000' } }).registryPollMs,
    1000,
  );
  const bad = t.throws(() => resolveOptions({ env: { QUIVER_REGISTRY_URL: 'mysql://u:secret@db/quiver' } }));
  t.regex(bad.message, /registryUrl must be empty \(the embedded registry\) or a postgres:\/\/ URL/);
  t.false(bad.message.includes('secret'), 'the password is not echoed');
});
