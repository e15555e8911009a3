/** A Python grpcio client (Debian's python3-grpcio, stubs generated from our proto at test time) calls inference.GRPCInferenceService. */
import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { BLUEPRINT_ROW, BLUEPRINT_ROW_2, blueprintFeatures, demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';
import { PYTHON } from './helpers/python.js';
import { startServer } from './helpers/server.js';

function pythonStubs(): string {
  const out = tmp('quiver-py-oip-');
  execFileSync(PYTHON, [
    '-m',
    'grpc_tools.protoc',
    `-I${join(ROOT, 'proto')}`,
    `--python_out=${out}`,
    `--grpc_python_out=${out}`,
    'inference/grpc_predict_v2.proto',
  ]);
  return out;
}

interface Output {
  datatype: string;
  shape: number[];
  values: number[];
}

interface PyResult {
  live: boolean;
  ready: boolean;
  model_ready: boolean;
  server: string;
  metadata: { name: string; platform: string; inputs: unknown[] };
  typed: { model_version: string; id: string; outputs: Record<string, Output> };
  raw: { raw_count: number; outputs: Record<string, Output> };
  not_found: { code: string; details: string } | null;
}

test('a Python grpcio client gets the same probabilities over OIP ModelInfer as the TypeScript client', async (t) => {
  const stubs = pythonStubs();
  const running = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`] });
  try {
    const { stdout } = await promisify(execFile)(PYTHON, [join(ROOT, 'test/python/oip_client.py'), stubs, running.address]);
    const py = JSON.parse(stdout) as PyResult;
    t.true(py.live);
    t.true(py.ready);
    t.true(py.model_ready);
    t.is(py.server, 'quiver');
    t.deepEqual(py.metadata, { name: 'production-model', platform: 'onnxruntime_onnx', inputs: [['features', 'FP32', [-1, 10]]] });
    t.is(py.typed.model_version, '1');
    t.is(py.typed.id, 'py');

    const expected: number[] = [];
    const labels: number[] = [];
    for (const row of [BLUEPRINT_ROW, BLUEPRINT_ROW_2]) {
      const ts = await running.client.predict({ features: blueprintFeatures(row) });
      expected.push(...ts.probabilities);
      labels.push(ts.prediction);
    }
    t.deepEqual(py.typed.outputs.probabilities, { datatype: 'FP32', shape: [2, 2], values: expected });
    t.deepEqual(py.typed.outputs.label, { datatype: 'INT64', shape: [2], values: labels });
    // Raw inputs: raw outputs, only the one requested, the same numbers.
    t.is(py.raw.raw_count, 1);
    t.deepEqual(Object.keys(py.raw.outputs), ['probabilities']);
    t.deepEqual(py.raw.outputs.probabilities, { datatype: 'FP32', shape: [2, 2], values: expected });
    t.deepEqual(py.not_found, { code: 'NOT_FOUND', details: "model 'nope' is not served; available: production-model" });
  } finally {
    await running.close();
  }
});
