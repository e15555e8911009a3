/**
 * Artifacts in an S3-compatible store (`artifactUrl: s3://bucket/prefix`), with metadata in
 * SQLite and in PostgreSQL. The store is s3rver, a real S3-compatible HTTP server on loopback,
 * spoken to by the real AWS SDK: objects are keyed by hash, verified on every load, shared by
 * content, removed with their last version.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import S3rver from 's3rver';

import { Stage } from '../src/gen/quiver/v1/registry.js';
import { parseS3Url } from '../src/registry/s3-url.js';
import { resolveOptions } from '../src/config/options.js';
import { type Backend, BACKENDS } from './helpers/backends.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, regressorModel, tmp } from './helpers/fixtures.js';
import { Registry } from './helpers/registry.js';
import { grpcError, type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

// s3rver's default credentials; the SDK reads them from the environment like any AWS credentials.
process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';

const BUCKET = 'quiver-artifacts';

async function withS3(fn: (endpoint: string, dir: string) => Promise<void>): Promise<void> {
  const dir = tmp('quiver-s3-');
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: BUCKET }] });
  const { port } = await s3.run();
  try {
    await fn(`http://127.0.0.1:${port}`, dir);
  } finally {
    await s3.close();
  }
}

/** Where s3rver keeps an object's bytes on its disk. */
const objectFile = (dir: string, key: string): string => join(dir, BUCKET, `${key}._S3rver_object`);

async function served(srv: Running, model: string): Promise<string | undefined> {
  return (await srv.client.predict({ modelName: model, features: blueprintFeatures(BLUEPRINT_ROW) }).catch(() => undefined))?.modelVersion;
}

function s3Test(title: string, fn: (t: import('ava').ExecutionContext, srv: Running, reg: Registry, s3dir: string) => Promise<void>): void {
  for (const backend of BACKENDS as readonly Backend[]) {
    test(`[${backend.name} + s3] ${title}`, async (t) => {
      await withS3(async (endpoint, s3dir) => {
        const db = await backend.create();
        const srv = await startServer({
          registryUrl: db.url,
          registryPollMs: 100,
          artifactUrl: `s3://${BUCKET}/models/prod`,
          s3Endpoint: endpoint,
          s3ForcePathStyle: true,
        });
        const reg = new Registry(srv.registryAddress);
        try {
          await fn(t, srv, reg, s3dir);
        } finally {
          reg.close();
          await srv.close();
          await db.drop();
        }
      });
    });
  }
}

s3Test(
  'uploads land in the bucket under their hash, are served, shared by content, and removed with their last version',
  async (t, srv, reg, s3dir) => {
    const bytes = demoModel();
    const v1 = (await reg.upload({ modelName: 'risk' }, bytes)).version!;
    const key = `models/prod/sha256/${v1.sha256.slice(0, 2)}/${v1.sha256}.onnx`;
    t.deepEqual(readFileSync(objectFile(s3dir, key)), Buffer.from(bytes));
    // The same bytes as another version and another model: one object.
    const v2 = (await reg.upload({ modelName: 'risk' }, bytes)).version!;
    const other = (await reg.upload({ modelName: 'other' }, bytes)).version!;
    t.is(v2.sha256, v1.sha256);
    t.is(other.sha256, v1.sha256);

    await reg.call('transitionStage', { modelName: 'risk', version: 1, stage: Stage.STAGE_PRODUCTION });
    await eventually(async () => (await served(srv, 'risk')) === '1');
    const res = await srv.client.predict({ modelName: 'risk', features: blueprintFeatures(BLUEPRINT_ROW) });
    t.is(res.prediction, 1);
    // Download returns the bytes from the bucket.
    t.deepEqual((await reg.download('risk', '1')).bytes, Buffer.from(bytes));

    // Deleting versions keeps the object while any version uses it.
    await reg.call('deleteVersion', { modelName: 'risk', version: 2 });
    await reg.call('deleteVersion', { modelName: 'other', version: 1 });
    t.true(existsSync(objectFile(s3dir, key)));
    await reg.call('transitionStage', { modelName: 'risk', version: 1, stage: Stage.STAGE_ARCHIVED });
    await reg.call('deleteVersion', { modelName: 'risk', version: 1 });
    await eventually(() => !existsSync(objectFile(s3dir, key)), 'the object removed from the bucket');
    t.false(existsSync(objectFile(s3dir, key)));
  },
);

s3Test(
  'an object changed in the bucket is detected and cannot be promoted: the previous Production version keeps serving',
  async (t, srv, reg, s3dir) => {
    await reg.upload({ modelName: 'risk' }, demoModel());
    await reg.call('transitionStage', { modelName: 'risk', version: 1, stage: Stage.STAGE_PRODUCTION });
    await eventually(async () => (await served(srv, 'risk')) === '1');
    const v2 = (await reg.upload({ modelName: 'risk' }, regressorModel())).version!;
    const file = objectFile(s3dir, `models/prod/sha256/${v2.sha256.slice(0, 2)}/${v2.sha256}.onnx`);
    const damaged = readFileSync(file);
    damaged[damaged.length - 3] = (damaged[damaged.length - 3] as number) ^ 0xff;
    writeFileSync(file, damaged);
    // The trial load before promotion fetches and verifies the object: the promotion is refused.
    const refused = await grpcError(reg.call('transitionStage', { modelName: 'risk', version: 2, stage: Stage.STAGE_PRODUCTION }));
    t.is(refused.code, grpc.status.FAILED_PRECONDITION);
    t.regex(refused.details, /^trial load of model 'risk' version 2: artifact [0-9a-f]{64} is corrupted: its content hashes to/);
    const v = await reg.call<{ version: { stage: Stage } }>('getVersion', { modelName: 'risk', version: '2' });
    t.is(v.version.stage, Stage.STAGE_NONE);
    const reload = await reg.call<{ failures: unknown[] }>('reloadModel', { modelName: 'risk' });
    t.deepEqual(reload.failures, []);
    for (let i = 0; i < 10; i++) t.is(await served(srv, 'risk'), '1');
  },
);

test('artifactUrl must be an s3:// URL with a valid bucket name; the prefix is normalised', (t) => {
  t.deepEqual(parseS3Url('s3://my-bucket'), { bucket: 'my-bucket', prefix: '' });
  t.deepEqual(parseS3Url('s3://my-bucket/a/b/'), { bucket: 'my-bucket', prefix: 'a/b' });
  for (const bad of ['http://bucket/x', 's3://', 's3://UPPER/x', 's3://a/x'])
    t.throws(
      () => resolveOptions({ env: {}, flags: { artifactUrl: bad } }),
      { message: /option artifactUrl must be s3:\/\/bucket\[\/prefix\]/ },
      bad,
    );
});
