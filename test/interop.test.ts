import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import test from 'ava';

import { BLUEPRINT_ROW, blueprintFeatures, tmp } from './helpers/fixtures.js';
import { ROOT, startCli } from './helpers/process.js';
import { Client } from './helpers/server.js';

// Debian's interpreter: it is the one that sees python3-grpcio and python3-grpc-tools.
const PYTHON = '/usr/bin/python3';

function pythonStubs(): string {
  const out = tmp('quiver-py-');
  const wellKnown = execFileSync(PYTHON, [
    '-c',
    'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))',
  ])
    .toString()
    .trim();
  const protos = [
    'quiver/v1/prediction.proto',
    'quiver/v1/tensor.proto',
    'google/api/annotations.proto',
    'google/api/http.proto',
    'google/rpc/status.proto',
  ];
  execFileSync(PYTHON, [
    '-m',
    'grpc_tools.protoc',
    `-I${join(ROOT, 'proto')}`,
    `-I${wellKnown}`,
    `--python_out=${out}`,
    `--grpc_python_out=${out}`,
    ...protos,
  ]);
  return out;
}

test('a Python grpcio client gets the same answers as the TypeScript client (quiver serve --demo)', async (t) => {
  const stubs = pythonStubs();
  const child = await startCli(['--demo', '--data-dir', tmp('quiver-data-')]);
  const client = new Client(`127.0.0.1:${child.port}`);
  try {
    const py = JSON.parse(
      execFileSync(PYTHON, [join(ROOT, 'test/python/predict_client.py'), stubs, `127.0.0.1:${child.port}`]).toString(),
    ) as Record<string, unknown>;
    const ts = await client.predict({ features: blueprintFeatures(BLUEPRINT_ROW), id: 'py' });
    t.is(py.prediction, ts.prediction);
    t.is(py.probability, ts.probability);
    t.deepEqual(py.probabilities, ts.probabilities);
    t.is(py.model_version, '1');
    t.is(py.id, 'py');
    t.deepEqual(py.label, [1]);
    t.deepEqual(py.batch_codes, [0, 3]);
    t.deepEqual(py.batch_first, ts.probabilities);
    t.deepEqual(
      py.feature_names,
      Array.from({ length: 10 }, (_, i) => `feature_${i}`),
    );
    t.deepEqual(py.not_found, { code: 'NOT_FOUND', details: "model 'nope' is not served; available: production-model" });
  } finally {
    client.close();
    child.proc.kill('SIGTERM');
    await child.exited;
  }
});
