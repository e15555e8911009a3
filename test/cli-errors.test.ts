/**
 * Every `quiver` command answers bad input with one line on stderr, `quiver: ...`, naming what
 * is wrong and what to do, and exits 2 for usage errors, 1 for failures; no stack trace unless
 * --verbose or QUIVER_DEBUG=1. Each case runs the real CLI as a child process.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test, { type ExecutionContext } from 'ava';

import { demoModel, tmp } from './helpers/fixtures.js';
import { CLI, TSX } from './helpers/process.js';

const execFileP = promisify(execFile);

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Children at a time: each costs a second or two of CPU to start, and the machine may have two cores. */
const PARALLEL = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Runs `quiver ...` in `cwd`; a command that should fail at once but hangs fails the test at the (generous) timeout. */
function quiver(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Result> {
  return slot(() => spawnQuiver(args, cwd, env));
}

async function spawnQuiver(args: string[], cwd: string, env: Record<string, string>): Promise<Result> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, ['--import', TSX, CLI, ...args], {
      cwd,
      env: { ...process.env, QUIVER_DEBUG: '', ...env },
      timeout: 120_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number | null; signal?: string | null; stdout: string; stderr: string };
    return { code: e.code ?? -1, stdout: e.stdout, stderr: `${e.stderr}${e.signal ? `(killed by ${e.signal})` : ''}` };
  }
}

/** The exit code, and stderr is exactly one `quiver: ` line matching `message`, without a stack trace. */
function oneLine(t: ExecutionContext, res: Result, code: number, message: RegExp): void {
  t.is(res.code, code, res.stderr);
  const lines = res.stderr.split('\n').filter((l) => l !== '');
  t.is(lines.length, 1, res.stderr);
  t.true(lines[0]?.startsWith('quiver: '), res.stderr);
  t.regex(res.stderr, message);
  t.notRegex(res.stderr + res.stdout, /^\s+at /m, 'no stack trace');
}

/** A folder holding the CSV cases. */
function dataFiles(): string {
  const dir = tmp('quiver-cli-errors-');
  writeFileSync(join(dir, 'empty.csv'), '');
  writeFileSync(join(dir, 'header-only.csv'), 'feature_0,target\n');
  writeFileSync(join(dir, 'no-target.csv'), 'a,b\n1,0\n2,1\n');
  writeFileSync(join(dir, 'text.csv'), 'a,target\n1,0\nabc,1\n');
  writeFileSync(join(dir, 'quote.csv'), 'a,target\n"1,0\n');
  mkdirSync(join(dir, 'folder.csv'));
  writeFileSync(join(dir, 'a-file'), 'not a directory\n');
  return dir;
}

const DIR = dataFiles();

/** A data directory with model `m` version 1 registered (made once, shared by the registry cases). */
let registered: Promise<string> | undefined;
function registeredDataDir(t: ExecutionContext): Promise<string> {
  registered ??= (async () => {
    const dataDir = tmp('quiver-cli-errors-data-');
    writeFileSync(join(dataDir, 'm.onnx'), demoModel());
    const up = await quiver(['registry', 'upload', '--model-name', 'm', '--file', 'm.onnx', '--data-dir', dataDir], dataDir);
    if (up.code !== 0) throw new Error(`registry upload failed: ${up.stderr}`);
    return dataDir;
  })();
  return registered.catch((err: unknown) => {
    t.fail(String(err));
    throw err;
  });
}

/** A port with nothing listening: bind one, take its number, close it. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

// --- input files ---------------------------------------------------------------------------

test('train: a missing --data-path', async (t) => {
  oneLine(
    t,
    await quiver(['train', '--data-path', 'missing.csv', '--model-name', 'm'], DIR),
    1,
    /--data-path missing\.csv: no such file; check the path/,
  );
});

test('data validate: a missing --data-path', async (t) => {
  const res = await quiver(['data', 'validate', '--data-path', 'missing.csv', '--output', 'report.json'], DIR);
  oneLine(t, res, 1, /--data-path missing\.csv: no such file; check the path/);
});

test('evaluate: a missing --test-data', async (t) => {
  const res = await quiver(['evaluate', '--model-uri', 'm:1', '--test-data', 'missing.csv', '--output-report', 'r.json'], DIR);
  oneLine(t, res, 1, /--test-data missing\.csv: no such file; check the path/);
});

test('registry upload: a missing --file', async (t) => {
  const res = await quiver(['registry', 'upload', '--model-name', 'm', '--file', 'missing.onnx', '--data-dir', join(DIR, 'data')], DIR);
  oneLine(t, res, 1, /--file missing\.onnx: no such file; check the path/);
});

test('train: an unreadable --data-path (a directory)', async (t) => {
  const res = await quiver(['train', '--data-path', 'folder.csv', '--model-name', 'm'], DIR);
  oneLine(t, res, 1, /--data-path folder\.csv: is a directory; give a file/);
});

test('train: an empty CSV', async (t) => {
  const res = await quiver(['train', '--data-path', 'empty.csv', '--model-name', 'm'], DIR);
  oneLine(t, res, 1, /--data-path empty\.csv: the file is empty: it needs a header row/);
});

test('train: a CSV with a header and no rows', async (t) => {
  const res = await quiver(['train', '--data-path', 'header-only.csv', '--model-name', 'm'], DIR);
  oneLine(t, res, 1, /--data-path header-only\.csv: the file has a header but no data rows/);
});

test('data validate: an empty CSV fails validation, naming the failed checks', async (t) => {
  const res = await quiver(['data', 'validate', '--data-path', 'empty.csv', '--output', 'out/empty.json'], DIR);
  oneLine(
    t,
    res,
    1,
    /--data-path empty\.csv failed validation: has_rows: the file has no header and no rows.*\(details in out\/empty\.json\)/,
  );
  t.true(existsSync(join(DIR, 'out/empty.json')), 'the report is written, its folder created');
});

test('train: a CSV without target', async (t) => {
  const res = await quiver(['train', '--data-path', 'no-target.csv', '--model-name', 'm'], DIR);
  oneLine(t, res, 1, /--data-path no-target\.csv: column 'target' not found \(columns: a, b\)/);
});

test('data validate: a CSV without target', async (t) => {
  const res = await quiver(['data', 'validate', '--data-path', 'no-target.csv', '--output', 'no-target.json'], DIR);
  oneLine(t, res, 1, /failed validation: target_present: target column 'target' not found/);
});

test('train: a non-numeric cell', async (t) => {
  const res = await quiver(['train', '--data-path', 'text.csv', '--model-name', 'm'], DIR);
  oneLine(t, res, 1, /--data-path text\.csv: column 'a', row 2 \(line 3\): "abc" is not a number/);
});

test('data validate: a non-numeric cell', async (t) => {
  const res = await quiver(['data', 'validate', '--data-path', 'text.csv', '--output', 'text.json'], DIR);
  oneLine(t, res, 1, /--data-path text\.csv failed validation: numeric: 1 values are not numbers/);
});

test('train: a file that is not CSV (an unclosed quote)', async (t) => {
  const res = await quiver(['train', '--data-path', 'quote.csv', '--model-name', 'm'], DIR);
  oneLine(t, res, 1, /--data-path quote\.csv: not valid CSV: .*quote/i);
});

// --- outputs -------------------------------------------------------------------------------

test('data generate creates the output folder', async (t) => {
  const res = await quiver(['data', 'generate', '--output', 'new/dir/d.csv', '--rows', '20'], DIR);
  t.is(res.code, 0, res.stderr);
  t.true(existsSync(join(DIR, 'new/dir/d.csv')));
});

test('data generate: an output that cannot be written names the flag', async (t) => {
  const res = await quiver(['data', 'generate', '--output', 'a-file/d.csv', '--rows', '20'], DIR);
  oneLine(t, res, 1, /--output a-file\/d\.csv: cannot write it \(.*not a directory\); pick another path/);
});

// --- usage errors --------------------------------------------------------------------------

test('train: an unknown algorithm is a usage error listing the algorithms', async (t) => {
  const res = await quiver(['train', '--data-path', 'text.csv', '--model-name', 'm', '--algorithm', 'svm'], DIR);
  oneLine(t, res, 2, /--algorithm: 'svm' is not one of logistic, gbdt, mlp/);
});

test('train: an unknown parameter is a usage error listing the parameters', async (t) => {
  const res = await quiver(['train', '--data-path', 'text.csv', '--model-name', 'm', '--param', 'epochs=3'], DIR);
  oneLine(t, res, 2, /--param: logistic: unknown parameter 'epochs'; use one of C, maxIter, tol/);
});

test('train: a parameter of the wrong type is a usage error', async (t) => {
  const res = await quiver(['train', '--data-path', 'text.csv', '--model-name', 'm', '--param', 'C=strong'], DIR);
  oneLine(t, res, 2, /--param: logistic: parameter 'C' must be a finite number/);
});

test('an unknown flag is a usage error on one line', async (t) => {
  oneLine(t, await quiver(['serve', '--grcp-port', '1'], DIR), 2, /unknown option '--grcp-port' \(Did you mean --grpc-port\?\); --help/);
});

test('promote: a version that is not a number is a usage error', async (t) => {
  const res = await quiver(['promote', '--model-name', 'm', '--version', 'latest', '--stage', 'production'], DIR);
  oneLine(t, res, 2, /--version: 'latest' is not a version number/);
});

test('a bad --model names the flag --model (not --models)', async (t) => {
  oneLine(t, await quiver(['serve', '--model', 'x.onnx'], DIR), 2, /\(flag --model\): model 'x\.onnx' must be name=path\.onnx/);
});

// --- the registry --------------------------------------------------------------------------

test('evaluate: an unknown model, version or alias', async (t) => {
  const dataDir = await registeredDataDir(t);
  const evaluate = (uri: string): Promise<Result> =>
    quiver(
      ['evaluate', '--model-uri', uri, '--test-data', join(DIR, 'new-data.csv'), '--output-report', 'r.json', '--data-dir', dataDir],
      dataDir,
    );
  writeFileSync(join(DIR, 'new-data.csv'), 'feature_0,target\n1,0\n');
  const hint = /`quiver registry list` shows the models/;
  for (const [uri, message] of [
    ['nope:1', /registered model 'nope' does not exist/],
    ['m:7', /model 'm' has no version '7'/],
    ['m@champion', /model 'm' has no version 'champion'/],
  ] as const) {
    const res = await evaluate(uri);
    oneLine(t, res, 1, message);
    t.regex(res.stderr, hint);
  }
});

test('promote and registry versions: an unknown model or version', async (t) => {
  const dataDir = await registeredDataDir(t);
  const at = ['--data-dir', dataDir];
  oneLine(
    t,
    await quiver(['promote', '--model-name', 'm', '--version', '9', '--stage', 'production', ...at], dataDir),
    1,
    /model 'm' has no version 9/,
  );
  oneLine(
    t,
    await quiver(['promote', '--model-name', 'nope', '--version', '1', '--alias', 'champion', ...at], dataDir),
    1,
    /registered model 'nope' does not exist/,
  );
  oneLine(t, await quiver(['registry', 'versions', '--model-name', 'nope', ...at], dataDir), 1, /registered model 'nope' does not exist/);
});

test('a PostgreSQL registry with nothing listening: one line, without the password', async (t) => {
  const url = `postgres://quiver:s3cret@127.0.0.1:${await freePort()}/quiver`;
  const res = await quiver(['registry', 'list', '--registry-url', url], DIR);
  oneLine(
    t,
    res,
    1,
    /cannot reach the registry at postgres:\/\/quiver:\*\*\*@127\.0\.0\.1:\d+\/quiver \(connection refused\): start PostgreSQL or fix --registry-url or QUIVER_REGISTRY_URL/,
  );
  t.notRegex(res.stderr, /s3cret/);
});

// Tests run as root, which writes through any permission bits: a data directory under a
// regular file cannot be created by anyone.
test('a data directory that cannot be written: registry commands', async (t) => {
  const dataDir = join(DIR, 'a-file', 'data');
  const res = await quiver(['registry', 'list', '--data-dir', dataDir], DIR);
  oneLine(
    t,
    res,
    1,
    new RegExp(
      `dataDir ${dataDir}: cannot write there \\(a part of the path is not a directory\\): pick a writable directory with --data-dir or QUIVER_DATA_DIR`,
    ),
  );
});

test('a data directory that cannot be written: serve', async (t) => {
  const dataDir = join(DIR, 'a-file', 'serve-data');
  const res = await quiver(
    [
      'serve',
      '--data-dir',
      dataDir,
      '--grpc-host',
      '127.0.0.1',
      '--grpc-port',
      '0',
      '--registry-port',
      '0',
      '--no-gateway',
      '--no-metrics-server',
    ],
    DIR,
  );
  oneLine(t, res, 1, new RegExp(`could not start: dataDir ${dataDir}: cannot write there .*--data-dir or QUIVER_DATA_DIR`));
});

// --- serve on a port in use ----------------------------------------------------------------

// Every other listener on port 0 or off, so a run never touches the default ports.
for (const [key, flag, env, others] of [
  ['grpcPort', '--grpc-port', 'QUIVER_GRPC_PORT', ['--registry-port', '0', '--no-gateway', '--no-metrics-server']],
  ['registryPort', '--registry-port', 'QUIVER_REGISTRY_PORT', ['--grpc-port', '0', '--no-gateway', '--no-metrics-server']],
  [
    'httpPort',
    '--http-port',
    'QUIVER_HTTP_PORT',
    ['--grpc-port', '0', '--registry-port', '0', '--registry-http-port', '0', '--http-host', '127.0.0.1', '--no-metrics-server'],
  ],
  [
    'metricsPort',
    '--metrics-port',
    'QUIVER_METRICS_PORT',
    ['--grpc-port', '0', '--registry-port', '0', '--no-gateway', '--metrics-host', '127.0.0.1'],
  ],
] as const) {
  test(`serve: ${key} in use names ${flag}`, async (t) => {
    const { port, server } = await busyPort();
    try {
      const dataDir = tmp('quiver-cli-errors-serve-');
      const res = await quiver(['serve', '--data-dir', dataDir, '--grpc-host', '127.0.0.1', ...others, flag, String(port)], DIR);
      oneLine(t, res, 1, new RegExp(`could not start: port ${port} \\(${key}\\) is in use: pick another with ${flag} or ${env}`));
    } finally {
      server.close();
    }
  });
}

test('gateway (the sidecar): httpPort in use names --http-port, in one line', async (t) => {
  const { port, server } = await busyPort();
  try {
    const res = await quiver(['gateway', '--upstream', '127.0.0.1:1', '--http-host', '127.0.0.1', '--http-port', String(port)], DIR);
    oneLine(t, res, 1, new RegExp(`port ${port} \\(httpPort\\) is in use: pick another with --http-port or QUIVER_HTTP_PORT`));
  } finally {
    server.close();
  }
});

// --- details on request --------------------------------------------------------------------

test('--verbose and QUIVER_DEBUG=1 add the stack trace and the cause', async (t) => {
  for (const [args, env] of [
    [['--verbose'], {}],
    [[], { QUIVER_DEBUG: '1' }],
  ] as const) {
    const res = await quiver(['train', '--data-path', 'missing.csv', '--model-name', 'm', ...args], DIR, env);
    t.is(res.code, 1);
    t.regex(res.stderr, /^quiver: --data-path missing\.csv: no such file; check the path\n/);
    t.regex(res.stderr, /^\s+at /m);
    t.regex(res.stderr, /caused by: Error: ENOENT/);
  }
});
