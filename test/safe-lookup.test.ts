/**
 * Names from requests never reach an object's prototype (issue 11): `constructor`,
 * `__proto__`, `toString`, `hasOwnProperty` as an alias, a version or a model name answer
 * NOT_FOUND (or INVALID_ARGUMENT where the registry's name rule refuses the name) with one
 * clear line, over the real REST routes and gRPC, on both registry backends.
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { Stage } from '../src/gen/quiver/v1/registry.js';
import { BACKENDS } from './helpers/backends.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel } from './helpers/fixtures.js';
import { Registry as RegistryClient } from './helpers/registry.js';
import { grpcError, type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const M = 'production-model';
const KEYS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
/** What the registry's name rule accepts (lowercase letters, digits, '.', '_', '-'; no leading '_'). */
const VALID_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

async function http(method: string, url: string, body?: unknown): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

/** The registry plane's REST base URL (its own listener when the server has one). */
const registryHttp = (srv: Running): string => (srv as Running & { registryHttp?: string }).registryHttp || srv.http;

const oneLine = (text: string): boolean => !text.includes('\n') && !/sqlite|SQLITE|bind|prototype|function/i.test(text);

for (const backend of BACKENDS) {
  test(`[${backend.name}] prototype names as alias, version and model name answer NOT_FOUND over REST and gRPC; the server stays up`, async (t) => {
    const db = await backend.create();
    const srv = await startServer({ registryPollMs: 100, registryUrl: db.url });
    const reg = new RegistryClient(srv.registryAddress);
    try {
      await reg.upload({ modelName: M }, demoModel());
      await reg.call('transitionStage', { modelName: M, version: 1, stage: Stage.STAGE_PRODUCTION });
      await eventually(
        async () =>
          (await srv.client.predict({ modelName: M, features: blueprintFeatures(BLUEPRINT_ROW) }).catch(() => undefined))?.modelVersion ===
          '1',
      );
      const base = registryHttp(srv);

      for (const key of KEYS) {
        // The registry: an alias (version spec) by REST and gRPC.
        const rest = await http('GET', `${base}/v1/registry/models/${M}/versions/${encodeURIComponent(key)}`);
        t.is(rest.status, 404, `GET versions/${key}: ${rest.text}`);
        t.true(rest.text.includes(`model '${M}' has no version '${key}' (latest version 1; aliases: production)`), rest.text);
        t.true(oneLine(rest.text), rest.text);
        const get = await grpcError(reg.call('getVersion', { modelName: M, version: key }));
        t.is(get.code, grpc.status.NOT_FOUND, `GetVersion ${key}: ${get.details}`);
        t.is(get.details, `model '${M}' has no version '${key}' (latest version 1; aliases: production)`);
        const download = await grpcError(reg.download(M, key));
        t.is(download.code, grpc.status.NOT_FOUND, `DownloadArtifact ${key}: ${download.details}`);
        const artifact = await http('GET', `${base}/v1/registry/models/${M}/versions/${encodeURIComponent(key)}/artifact`);
        t.is(artifact.status, 404, `GET artifact ${key}: ${artifact.text}`);

        // The registry: a model name. A name the registry's rule refuses is INVALID_ARGUMENT.
        const expected = VALID_NAME.test(key) ? 404 : 400;
        const model = await http('GET', `${base}/v1/registry/models/${encodeURIComponent(key)}`);
        t.is(model.status, expected, `GET models/${key}: ${model.text}`);
        t.true(oneLine(model.text), model.text);
        const getModel = await grpcError(reg.call('getModel', { name: key }));
        t.is(getModel.code, expected === 404 ? grpc.status.NOT_FOUND : grpc.status.INVALID_ARGUMENT, getModel.details);
        const versions = await http('GET', `${base}/v1/registry/models/${encodeURIComponent(key)}/versions/1`);
        t.is(versions.status, expected, `GET models/${key}/versions/1: ${versions.text}`);

        // The inference plane: Predict, metadata, OIP REST, with the name as version and as model.
        const byVersion = await grpcError(
          srv.client.predict({ modelName: M, modelVersion: key, features: blueprintFeatures(BLUEPRINT_ROW) }),
        );
        t.is(byVersion.code, grpc.status.NOT_FOUND, `Predict version ${key}: ${byVersion.details}`);
        t.is(byVersion.details, `model '${M}' has no version '${key}'; available versions: 1; aliases: production`);
        const byModel = await grpcError(srv.client.predict({ modelName: key, features: blueprintFeatures(BLUEPRINT_ROW) }));
        t.is(byModel.code, grpc.status.NOT_FOUND, `Predict model ${key}: ${byModel.details}`);
        t.is(byModel.details, `model '${key}' is not served; available: ${M}`);
        t.is((await grpcError(srv.client.metadata(M, key))).code, grpc.status.NOT_FOUND);
        t.is((await grpcError(srv.client.metadata(key))).code, grpc.status.NOT_FOUND);
        for (const path of [`/v2/models/${M}/versions/${encodeURIComponent(key)}`, `/v2/models/${encodeURIComponent(key)}`]) {
          const meta = await http('GET', `${srv.http}${path}`);
          t.is(meta.status, 404, `GET ${path}: ${meta.text}`);
          t.true(oneLine(meta.text), meta.text);
          const infer = await http('POST', `${srv.http}${path}/infer`, {
            inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP32', data: BLUEPRINT_ROW }],
          });
          t.is(infer.status, 404, `POST ${path}/infer: ${infer.text}`);
        }
        const stats = await http('GET', `${srv.http}/stats?model=${encodeURIComponent(key)}`);
        t.is(stats.status, 200, stats.text);
        t.deepEqual(JSON.parse(stats.text).versions ?? [], []);
      }
      // Still up, still serving.
      t.is((await srv.client.predict({ modelName: M, features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion, '1');
      const health = await http('GET', `${srv.http}/health`);
      t.is(health.status, 200);
    } finally {
      reg.close();
      await srv.close();
      await db.drop();
    }
  });
}
