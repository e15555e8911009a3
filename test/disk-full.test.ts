/**
 * Disk full during an upload (issue 7, "overload and faults"): the server runs in its own
 * mount namespace (util-linux `unshare`, as root or in a user namespace) with a 2 MiB tmpfs
 * mounted over its artifact directory, so a real write fails with ENOSPC part-way through a
 * real upload. The upload must answer RESOURCE_EXHAUSTED naming the cause, leave no temp file
 * and no registry row (no model, no version, no audit entry), and the server must keep serving
 * and accept an upload that fits. The test looks into the server's mount namespace through
 * /proc/<pid>/root.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { Stage } from '../src/gen/quiver/v1/registry.js';
import { check, healthClient } from '../src/grpc/health-client.js';
import { readOnnxModelInfo } from '../src/onnx/model-info.js';
import { buildMlpModel } from '../benchmarks/lib/mlp-model.js';
import { BLUEPRINT_ROW, blueprintFeatures, tmp } from './helpers/fixtures.js';
import { startCli } from './helpers/process.js';
import { Registry } from './helpers/registry.js';
import { Client, grpcError } from './helpers/server.js';
import { tmpfsWrap } from './helpers/full-disk.js';

const TMPFS_BYTES = 2 * 1024 * 1024;

test('disk full during an upload: RESOURCE_EXHAUSTED, no temp file, no registry row; the server keeps serving', async (t) => {
  const dataDir = tmp('quiver-diskfull-');
  const artifacts = join(dataDir, 'artifacts');
  // A small tmpfs over the artifact directory, in the server's own mount namespace.
  const wrap = tmpfsWrap(artifacts, TMPFS_BYTES);
  // --demo registers and serves the demo model (a few KiB on the tmpfs).
  const child = await startCli(['--demo', '--data-dir', dataDir], {}, wrap);
  const reg = new Registry(`127.0.0.1:${child.registryPort}`);
  const health = healthClient(`127.0.0.1:${child.port}`);
  const client = new Client(`127.0.0.1:${child.port}`);
  const predict = async (): Promise<string> =>
    (await client.predict({ modelName: 'production-model', features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion;
  try {
    // Seen from inside the server's namespace: the tmpfs, with the server's temp directory on it.
    const inside = (p: string): string => join(`/proc/${child.proc.pid}/root`, p);
    const tmpFiles = (): string[] => readdirSync(inside(join(artifacts, 'tmp')));
    t.deepEqual(tmpFiles(), []);
    const stored = readdirSync(inside(join(artifacts, 'sha256')));
    t.is(await predict(), '1');

    // A valid model (it would register) bigger than the free space.
    const big = buildMlpModel(1024, 7);
    t.true(big.byteLength > TMPFS_BYTES, `${big.byteLength} bytes`);
    t.is(readOnnxModelInfo(big).usesExternalData, false);

    const err = await grpcError(reg.upload({ modelName: 'big' }, big));
    t.is(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    t.regex(
      err.details,
      /^the registry's artifact storage is full: the upload was refused after \d+ bytes and nothing was kept \(request id [0-9a-f-]+: see the server log\)$/,
    );

    t.deepEqual(tmpFiles(), [], 'the temp file is gone');
    t.deepEqual(readdirSync(inside(join(artifacts, 'sha256'))), stored, 'no artifact was stored');
    const missing = await grpcError(reg.call('getModel', { name: 'big' }));
    t.is(missing.code, grpc.status.NOT_FOUND, 'no model row');
    const models = await reg.call<{ models: Array<{ name: string }> }>('listRegisteredModels', {});
    t.deepEqual(
      models.models.map((m) => m.name),
      ['production-model'],
    );
    const audit = await reg.call<{ entries: Array<{ modelName: string }> }>('getAuditLog', { modelName: '' });
    t.false(
      audit.entries.some((e) => e.modelName === 'big'),
      'no audit row',
    );

    // The server is up, serving, and a new version that fits goes through as the next number.
    t.is(child.proc.exitCode, null);
    t.is(await check(health, ''), 'SERVING');
    t.is(await predict(), '1');
    const again = await reg.upload({ modelName: 'production-model' }, buildMlpModel(64, 7));
    t.is(again.version?.version, 2);
    await reg.call('transitionStage', { modelName: 'production-model', version: 2, stage: Stage.STAGE_PRODUCTION, archiveExisting: true });
    const t0 = Date.now();
    while ((await predict()) !== '2' && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    t.is(await predict(), '2');
    t.deepEqual(tmpFiles(), []);
  } finally {
    client.close();
    reg.close();
    health.close();
    child.proc.kill('SIGTERM');
    await child.exited;
  }
});
