import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { BatchPredictRequest, PredictRequest } from '../src/gen/quiver/v1/prediction.js';
import { demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';
import { startServer } from './helpers/server.js';

const ghzDir = join(ROOT, 'benchmarks/ghz');
const configs = readdirSync(ghzDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, config: JSON.parse(readFileSync(join(ghzDir, f), 'utf8')) as Record<string, unknown> }));

test('ghz configs use current ghz keys, point at real protos and methods, and their data is accepted by a live server', async (t) => {
  t.true(configs.length >= 2);
  const srv = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`] });
  try {
    for (const { file, config } of configs) {
      for (const key of ['proto', 'import-paths', 'call', 'host', 'insecure', 'concurrency', 'duration', 'data']) {
        t.true(key in config, `${file}: ${key}`);
      }
      const proto = readFileSync(join(ROOT, config.proto as string), 'utf8');
      const [, service, method] = /^quiver\.v1\.(\w+)\.(\w+)$/.exec(config.call as string) ?? [];
      t.true(proto.includes(`service ${service}`) && proto.includes(`rpc ${method}(`), `${file}: ${config.call}`);
      if (method === 'Predict') {
        const res = await srv.client.predict(PredictRequest.fromJSON(config.data));
        t.is(res.modelName, 'production-model', file);
      } else {
        const res = await srv.client.batchPredict(BatchPredictRequest.fromJSON(config.data));
        t.true(
          res.responses.every((r) => r.status!.code === 0),
          file,
        );
        t.true(res.responses.length > 0 || res.denseOutputs.size > 0, file);
      }
    }
  } finally {
    await srv.close();
  }
});

test('k6 scripts load the real proto and invoke existing methods', (t) => {
  const dir = join(ROOT, 'benchmarks/k6');
  const scripts = readdirSync(dir).filter((f) => f.endsWith('.js'));
  t.true(scripts.length >= 2);
  const proto = readFileSync(join(ROOT, 'proto/quiver/v1/prediction.proto'), 'utf8');
  for (const s of scripts) {
    const text = readFileSync(join(dir, s), 'utf8');
    t.regex(text, /import grpc from 'k6\/net\/grpc'/);
    t.regex(text, /client\.load\(\['\.\.\/\.\.\/proto'\], 'quiver\/v1\/prediction\.proto'\)/);
    for (const [, method] of text.matchAll(/invoke\('quiver\.v1\.PredictionService\/(\w+)'/g)) {
      t.true(proto.includes(`rpc ${method}(`), `${s}: ${method}`);
    }
  }
});
