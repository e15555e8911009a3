import { readFileSync } from 'node:fs';

import test from 'ava';

import { GatewayError, PredictionService, RegistryService } from '../gateway/client/quiver-rest.js';
import { formatted, generateClientFiles } from '../scripts/gen-rest-client.js';
import { BLUEPRINT_ROW, demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { startServer } from './helpers/server.js';

test('the committed REST client is what the generator makes from proto/ (run `npm run gen:client` after a proto change)', async (t) => {
  for (const [path, source] of generateClientFiles()) t.is(await formatted(path, source), readFileSync(path, 'utf8'), path);
});

test('the generated client talks to a live gateway: predictions, metadata, the registry, and typed errors', async (t) => {
  const srv = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`] });
  const init = { baseUrl: srv.http };
  // The registry plane's routes are on its own HTTP port (registryHttpPort).
  const registryInit = { baseUrl: srv.registryHttp };
  try {
    const features = Object.fromEntries(BLUEPRINT_ROW.map((v, i) => [`feature_${i}`, v]));
    const res = await PredictionService.Predict({ modelName: 'production-model', features, id: 'c1' }, init);
    const viaGrpc = await srv.client.predict({ features: new Map(Object.entries(features)) });
    t.deepEqual(res.probabilities, viaGrpc.probabilities);
    t.is(res.id, 'c1');
    const meta = await PredictionService.GetModelMetadata({ modelName: 'production-model' }, init);
    t.is(meta.featureNames?.length, 10);
    const listed = await PredictionService.ListModels({}, init);
    t.deepEqual(
      listed.models?.map((m) => m.name),
      ['production-model'],
    );
    const created = await RegistryService.CreateVersion(
      [{ metadata: { modelName: 'client-model' } }, { chunk: Buffer.from(demoModel()).toString('base64') }],
      registryInit,
    );
    t.is(created.version?.version, 1);
    await RegistryService.TransitionStage({ modelName: 'client-model', version: 1, stage: 'STAGE_PRODUCTION' }, registryInit);
    const versions = await RegistryService.ListVersions(
      { modelName: 'client-model', stage: 'STAGE_PRODUCTION', pageSize: 5 },
      registryInit,
    );
    t.deepEqual(
      versions.versions?.map((v) => v.version),
      [1],
    );
    const parts = await RegistryService.DownloadArtifact({ modelName: 'client-model', version: '1' }, registryInit);
    t.is(parts[0]?.info?.sha256, created.version?.sha256);
    const err = await t.throwsAsync(PredictionService.Predict({ modelName: 'nope', features }, init));
    t.true(err instanceof GatewayError);
    t.is((err as GatewayError).status, 404);
    t.is((err as GatewayError).code, 5);
    t.regex(err!.message, /^model 'nope' is not served/);
  } finally {
    await srv.close();
  }
});
