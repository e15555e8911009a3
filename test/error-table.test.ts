/**
 * One error table (issue 10): each QUIVER_ERR_* code has one gRPC status and one HTTP status,
 * the gateway answers with the error's own HTTP status (an upload over the limit is 413, a
 * full disk 507), and a driver's, the filesystem's or S3's error text never reaches a client:
 * it is logged with a request id, and the answer carries that id.
 */
import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import S3rver from 's3rver';

import { errorAnswer, REQUEST_INFO_TYPE } from '../gateway/status.js';
import { GrpcCallError } from '../gateway/invoker.js';
import { buildMlpModel } from '../benchmarks/lib/mlp-model.js';
import { Code, ERROR_CODE_KEY, ERROR_CODES, grpcStatusOf, httpStatusOf, QuiverError } from '../src/core/errors.js';
import { toServiceError } from '../src/grpc/calls.js';
import { demoModel, tmp } from './helpers/fixtures.js';
import { type Child, startCli } from './helpers/process.js';
import { Registry } from './helpers/registry.js';
import { grpcError } from './helpers/server.js';
import { tmpfsWrap } from './helpers/full-disk.js';
import { eventually } from './helpers/wait.js';

// s3rver's default credentials; the SDK reads them from the environment like any AWS credentials.
const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The body of a REST upload (CreateVersion as NDJSON): the metadata, then the file in one chunk. */
const uploadBody = (modelName: string, bytes: Uint8Array): string =>
  `${JSON.stringify({ metadata: { modelName } })}\n${JSON.stringify({ chunk: Buffer.from(bytes).toString('base64') })}\n`;

async function restUpload(
  child: Child,
  modelName: string,
  bytes: Uint8Array,
  headers: Record<string, string> = {},
): Promise<{ status: number; requestId: string; body: { code: number; message: string; details: unknown[] } }> {
  const res = await fetch(`http://127.0.0.1:${child.registryHttpPort}/v1/registry/versions:upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...headers },
    body: uploadBody(modelName, bytes),
  });
  return { status: res.status, requestId: res.headers.get('x-request-id') ?? '', body: (await res.json()) as never };
}

/** The server's JSON log lines that carry `requestId`. */
function logLinesOf(child: Child, requestId: string): string[] {
  return child.logs
    .join('\n')
    .split('\n')
    .filter((line) => {
      try {
        return (JSON.parse(line) as { requestId?: unknown }).requestId === requestId;
      } catch {
        return false;
      }
    });
}

async function stop(child: Child): Promise<void> {
  child.proc.kill('SIGTERM');
  await child.exited;
}

test('every QUIVER_ERR code has one gRPC and one HTTP status, and the gateway answers with them', (t) => {
  t.true(ERROR_CODES.length > 0);
  t.is(new Set(ERROR_CODES).size, ERROR_CODES.length);
  for (const code of ERROR_CODES) {
    const grpcStatus = grpcStatusOf(code);
    const http = httpStatusOf(code);
    t.true(grpc.status[grpcStatus] !== undefined && grpcStatus !== Code.OK, code);
    t.true(Number.isInteger(http) && http >= 400 && http <= 599, code);
    // Thrown in the gateway itself.
    const direct = errorAnswer(new QuiverError(code, 'the message'), 'rid-1', undefined);
    t.is(direct.status, http, code);
    t.deepEqual(direct.body, { code: grpcStatus, message: 'the message', details: [{ '@type': REQUEST_INFO_TYPE, requestId: 'rid-1' }] });
    // Thrown in a gRPC handler and answered as grpc-js answers it: the trailer names the code.
    const status = toServiceError(new QuiverError(code, 'the message'), undefined, 'Method');
    const metadata = status.metadata!;
    t.deepEqual(metadata.get(ERROR_CODE_KEY), [code]);
    t.regex(String(metadata.get('x-request-id')[0]), UUID);
    const relayed = errorAnswer(new GrpcCallError(status.code!, status.details!, metadata), 'rid-2', undefined);
    t.is(relayed.status, http, code);
    t.is(relayed.body.code, grpcStatus, code);
  }
  // The issue's cases: two codes share RESOURCE_EXHAUSTED, each keeps its own HTTP status.
  t.is(httpStatusOf('QUIVER_ERR_TOO_LARGE'), 413);
  t.is(httpStatusOf('QUIVER_ERR_STORAGE_FULL'), 507);
  t.is(httpStatusOf('QUIVER_ERR_QUEUE_FULL'), 429);
  // An answer without a QUIVER_ERR code (grpc-js's own) falls back to grpc-gateway's mapping.
  t.is(errorAnswer(new GrpcCallError(grpc.status.RESOURCE_EXHAUSTED, 'too big', new grpc.Metadata()), 'r', undefined).status, 429);
  // A caller's own request id is kept; one that is not a plain token is replaced.
  const given = new grpc.Metadata();
  given.set('x-request-id', 'abc-123');
  t.deepEqual(toServiceError(new QuiverError('QUIVER_ERR_NOT_FOUND', 'x'), undefined, 'M', given).metadata!.get('x-request-id'), [
    'abc-123',
  ]);
  given.set('x-request-id', 'not a token; (spaces)');
  t.regex(
    String(toServiceError(new QuiverError('QUIVER_ERR_NOT_FOUND', 'x'), undefined, 'M', given).metadata!.get('x-request-id')[0]),
    UUID,
  );
});

test('an upload over maxUploadBytes is 413 over REST and RESOURCE_EXHAUSTED over gRPC, both naming the limit', async (t) => {
  const child = await startCli(['--data-dir', tmp('quiver-errtable-'), '--max-upload-bytes', '1024']);
  const reg = new Registry(`127.0.0.1:${child.registryPort}`);
  try {
    const big = buildMlpModel(16, 3);
    t.true(big.byteLength > 1024, `${big.byteLength} bytes`);

    const rest = await restUpload(child, 'big', big, { 'x-request-id': 'client-chosen-1' });
    t.is(rest.status, 413, JSON.stringify(rest.body));
    t.is(rest.body.code, grpc.status.RESOURCE_EXHAUSTED);
    t.is(rest.body.message, 'the upload is over the limit of 1024 bytes');
    t.is(rest.requestId, 'client-chosen-1', 'the caller’s request id comes back');
    t.deepEqual(rest.body.details, [{ '@type': REQUEST_INFO_TYPE, requestId: 'client-chosen-1' }]);

    const err = await grpcError(reg.upload({ modelName: 'big' }, big));
    t.is(err.code, grpc.status.RESOURCE_EXHAUSTED, err.details);
    t.is(err.details, 'the upload is over the limit of 1024 bytes');
    t.deepEqual(err.metadata.get(ERROR_CODE_KEY), ['QUIVER_ERR_TOO_LARGE']);
    t.regex(String(err.metadata.get('x-request-id')[0]), UUID);

    // Still serving: a model under the limit registers.
    t.true(demoModel().byteLength <= 1024);
    const ok = await reg.upload({ modelName: 'small' }, demoModel());
    t.is(ok.version?.version, 1);
  } finally {
    reg.close();
    await stop(child);
  }
});

test("an S3 error's text stays in the log with the request id; the client gets the id (gRPC and REST)", async (t) => {
  const dir = tmp('quiver-errtable-s3-');
  // A real S3 server without the bucket the server is configured with: every store fails.
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
  const { port } = await s3.run();
  const child = await startCli(
    [
      '--data-dir',
      tmp('quiver-errtable-'),
      '--artifact-url',
      's3://no-such-bucket/models',
      '--s3-endpoint',
      `http://127.0.0.1:${port}`,
      '--s3-force-path-style',
    ],
    S3_ENV,
  );
  const reg = new Registry(`127.0.0.1:${child.registryPort}`);
  try {
    const err = await grpcError(reg.upload({ modelName: 'm' }, demoModel()));
    t.is(err.code, grpc.status.UNAVAILABLE, err.details);
    const grpcId = String(err.metadata.get('x-request-id')[0]);
    t.regex(grpcId, UUID);
    t.deepEqual(err.metadata.get(ERROR_CODE_KEY), ['QUIVER_ERR_STORAGE']);
    t.is(err.details, `cannot store the artifact in s3://no-such-bucket (request id ${grpcId}: see the server log)`);
    t.notRegex(err.details, /specified bucket|NoSuchBucket/i);

    const rest = await restUpload(child, 'm', demoModel());
    t.is(rest.status, 503, JSON.stringify(rest.body));
    t.regex(rest.requestId, UUID);
    t.is(rest.body.message, `cannot store the artifact in s3://no-such-bucket (request id ${rest.requestId}: see the server log)`);
    t.deepEqual(rest.body.details, [{ '@type': REQUEST_INFO_TYPE, requestId: rest.requestId }]);

    // The operator finds S3's own words under each id (the child's log arrives on its own pipe,
    // so the line may come after the answer).
    for (const id of [grpcId, rest.requestId]) {
      const found = (): boolean =>
        logLinesOf(child, id).some((l) => /specified bucket does not exist/i.test(l) && /cannot store the artifact/.test(l));
      await eventually(found, `the log line for ${id}`).catch(() => undefined);
      t.true(found(), `log lines for ${id}: ${logLinesOf(child, id).join('\n')}`);
    }
  } finally {
    reg.close();
    await stop(child);
    await s3.close();
  }
});

test('a full disk is 507 over REST, with the ENOSPC text in the log only', async (t) => {
  const TMPFS_BYTES = 2 * 1024 * 1024;
  const dataDir = tmp('quiver-errtable-full-');
  const artifacts = `${dataDir}/artifacts`;
  // A small tmpfs over the artifact directory, in the server's own mount namespace.
  const wrap = tmpfsWrap(artifacts, TMPFS_BYTES);
  const child = await startCli(['--data-dir', dataDir, '--max-http-body-bytes', String(16 * 1024 * 1024)], {}, wrap);
  try {
    const big = buildMlpModel(1024, 7);
    t.true(big.byteLength > TMPFS_BYTES, `${big.byteLength} bytes`);
    const rest = await restUpload(child, 'big', big);
    t.is(rest.status, 507, JSON.stringify(rest.body));
    t.is(rest.body.code, grpc.status.RESOURCE_EXHAUSTED);
    t.regex(
      rest.body.message,
      /^the registry's artifact storage is full: the upload was refused after \d+ bytes and nothing was kept \(request id [0-9a-f-]+: see the server log\)$/,
    );
    t.true(rest.body.message.includes(rest.requestId));
    t.notRegex(rest.body.message, /ENOSPC/);
    const found = (): boolean => logLinesOf(child, rest.requestId).some((l) => /ENOSPC/.test(l));
    await eventually(found, 'the ENOSPC log line').catch(() => undefined);
    t.true(found(), logLinesOf(child, rest.requestId).join('\n'));
  } finally {
    await stop(child);
  }
});
