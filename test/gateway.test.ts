import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { Stage } from '../src/gen/quiver/v1/registry.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, slowModel, tmp, typedModel, writeModel } from './helpers/fixtures.js';
import { Registry } from './helpers/registry.js';
import { type Running, startServer } from './helpers/server.js';

const dir = tmp();
const demoPath = writeModel(dir, 'demo.onnx', demoModel());
const features = Object.fromEntries(BLUEPRINT_ROW.map((v, i) => [`feature_${i}`, v]));
let srv: Running;

test.before(async () => {
  srv = await startServer({
    models: [`production-model=${demoPath}`, `typed=${writeModel(dir, 'typed.onnx', typedModel())}`],
    maxHttpBodyBytes: 256 * 1024,
    inlineMaxUs: 10_000,
  });
});

test.after.always(async () => {
  await srv?.close();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers; text: string }> {
  // The registry's routes are on the registry plane's own HTTP port (registryHttpPort).
  const base = path.startsWith('/v1/registry/') ? srv.registryHttp : srv.http;
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, json, headers: res.headers, text };
}

test("the blueprint's /predict and /predict/batch answer with its JSON shapes, and the same numbers as gRPC", async (t) => {
  const grpcAnswer = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  const rest = await call('POST', '/predict', { features });
  t.is(rest.status, 200);
  // The id the server generated (none was given): each answer's own.
  const { id, ...answer } = rest.json;
  t.regex(String(id), /^[0-9a-f-]{36}$/);
  t.not(id, grpcAnswer.id);
  t.deepEqual(answer, {
    prediction: grpcAnswer.prediction,
    probability: grpcAnswer.probability,
    probabilities: grpcAnswer.probabilities,
    model_name: 'production-model',
    model_version: '1',
  });
  const batch = await call('POST', '/predict/batch', { requests: [{ features }, { features: { feature_0: 1 } }, { features }] });
  t.is(batch.status, 200);
  const predictions = batch.json.predictions as Array<Record<string, unknown>>;
  t.is(predictions.length, 3);
  t.is(predictions[0]!.prediction, grpcAnswer.prediction);
  t.deepEqual(predictions[1], {
    error: {
      code: 3,
      message:
        'requests[1].features: missing features feature_1, feature_2, feature_3, feature_4, feature_5, feature_6, feature_7, feature_8, feature_9 (the model takes 10 features: feature_0, feature_1, feature_2, feature_3, feature_4, feature_5, feature_6, feature_7, feature_8, feature_9)',
    },
  });
  t.deepEqual(predictions[2]!.probabilities, grpcAnswer.probabilities);
});

test('/health, /model-info, /metrics, /stats, /reload-model and /openapi.json', async (t) => {
  const health = await call('GET', '/health');
  t.is(health.status, 200);
  t.like(health.json, { status: 'healthy', serving: true, model_loaded: true });
  const info = await call('GET', '/model-info');
  t.like(info.json, { model_name: 'production-model', model_version: '1', task: 'classification', platform: 'onnxruntime' });
  t.deepEqual(info.json.features, Object.keys(features));
  const typedInfo = await call('GET', '/model-info?model=typed');
  t.deepEqual(
    (typedInfo.json.inputs as Array<{ name: string }>).map((i) => i.name),
    ['ids', 'mask', 'scale'],
  );
  const metrics = await call('GET', '/metrics');
  t.is(metrics.status, 200);
  t.regex(metrics.headers.get('content-type') ?? '', /^text\/plain/);
  t.regex(metrics.text, /^# HELP process_cpu_user_seconds_total/m);
  const stats = await call('GET', '/stats');
  t.is(stats.status, 200);
  t.true((stats.json.versions as unknown[]).length >= 2);
  t.is(typeof stats.json.uptime_seconds, 'number');
  const reload = await call('POST', '/reload-model');
  t.is(reload.status, 200);
  t.is(reload.json.status, 'reloaded');
  const openapi = await call('GET', '/openapi.json');
  t.is(openapi.json.openapi, '3.0.3');
  const paths = openapi.json.paths as Record<string, Record<string, unknown>>;
  for (const p of ['/predict', '/v1/models/{model_name}:predict']) t.truthy(paths[p], p);
  t.truthy((openapi.json.components as { schemas: Record<string, unknown> }).schemas['quiver.v1.PredictRequest']);
  // Each port describes its own routes: the registry's are on the registry plane's port.
  t.false(Object.keys(paths).some((p) => p.startsWith('/v1/registry/')));
  const registryDoc = (await (await fetch(`${srv.registryHttp}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  for (const p of ['/v1/registry/models/{model_name}/versions/{version}:transition', '/v1/registry/audit'])
    t.truthy(registryDoc.paths[p], p);
  t.falsy(registryDoc.paths['/v1/models/{model_name}:predict']);
});

test('every RPC with an http binding is reachable: predict, metadata and registry routes (proto3 JSON)', async (t) => {
  const res = await call('POST', '/v1/models/production-model:predict', { features, id: 'r1' });
  t.is(res.status, 200);
  t.like(res.json, { modelName: 'production-model', modelVersion: '1', id: 'r1' });
  t.deepEqual((res.json.outputs as Record<string, { datatype: string }>).probabilities!.datatype, 'DATA_TYPE_FP32');
  const dense = await call('POST', '/v1/models/production-model:batchPredict', {
    dense: { datatype: 'DATA_TYPE_FP32', shape: [2, 10], fp32Data: [...BLUEPRINT_ROW, ...BLUEPRINT_ROW] },
  });
  t.is(dense.status, 200);
  t.deepEqual((dense.json.denseOutputs as Record<string, { shape: number[] }>).probabilities!.shape, [2, 2]);
  const meta = await call('GET', '/v1/models/production-model/metadata');
  t.deepEqual(meta.json.featureNames, Object.keys(features));
  const list = await call('GET', '/v1/models');
  t.deepEqual(
    (list.json.models as Array<{ name: string }>).map((m) => m.name),
    ['production-model', 'typed'],
  );
  // The registry through REST: upload is a stream (NDJSON lines), the rest unary.
  const onnx = Buffer.from(demoModel()).toString('base64');
  const upload = await call(
    'POST',
    '/v1/registry/versions:upload',
    `{"metadata": {"modelName": "rest-model", "description": "via REST"}}\n{"chunk": "${onnx}"}\n`,
    {
      'content-type': 'application/x-ndjson',
      'Grpc-Metadata-Quiver-Actor': 'rest-user',
    },
  );
  t.is(upload.status, 200, upload.text);
  t.like((upload.json as { version: Record<string, unknown> }).version, { modelName: 'rest-model', version: 1, createdBy: 'rest-user' });
  const promote = await call('POST', '/v1/registry/models/rest-model/versions/1:transition', { stage: 'STAGE_PRODUCTION' });
  t.is(promote.status, 200, promote.text);
  t.is((promote.json.version as { stage: string }).stage, 'STAGE_PRODUCTION');
  const versions = await call('GET', '/v1/registry/models/rest-model/versions?stage=STAGE_PRODUCTION&page_size=10');
  t.deepEqual(
    (versions.json.versions as Array<{ version: number }>).map((v) => v.version),
    [1],
  );
  const audit = await call('GET', '/v1/registry/audit?model_name=rest-model');
  t.deepEqual(
    (audit.json.entries as Array<{ action: string }>).map((e) => e.action),
    ['create_model', 'create_version', 'transition_stage'],
  );
  const download = await call('GET', '/v1/registry/models/rest-model/versions/1/artifact');
  const lines = download.text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { result: { info?: { sha256: string }; chunk?: string } });
  t.truthy(lines[0]!.result.info!.sha256);
  t.is(Buffer.concat(lines.slice(1).map((l) => Buffer.from(l.result.chunk!, 'base64'))).toString('base64'), onnx);
  const alias = await call('PUT', '/v1/registry/models/rest-model/aliases/champion', { version: 1 });
  t.is(alias.status, 200);
  const del = await call('DELETE', '/v1/registry/models/rest-model/versions/1');
  t.is(del.status, 400); // FAILED_PRECONDITION: aliases point at it
  t.is(del.json.code, grpc.status.FAILED_PRECONDITION);
});

test('bad requests get 400/404/405/413 with a clear message, and the server stays up', async (t) => {
  const cases: Array<[string, string, unknown, number, RegExp]> = [
    ['POST', '/predict', '', 400, /^request body: empty; expected a JSON object$/],
    ['POST', '/predict', 'not json', 400, /^request body: not valid JSON/],
    ['POST', '/predict', '['.repeat(100_000) + ']'.repeat(100_000), 400, /^request body: JSON nested deeper than 64 levels\b/],
    ['POST', '/predict', { features: { feature_0: 'x' } }, 400, /^features\.feature_0: expected a number, got a string$/],
    ['POST', '/predict', { features: [1, 2] }, 400, /^features: expected an object of feature name to number$/],
    ['POST', '/predict', { feature: features }, 400, /^feature: unknown field/],
    ['POST', '/predict', [1, 2, 3], 400, /^request body: expected a JSON object/],
    [
      'POST',
      '/v1/models/production-model:predict',
      { features: { feature_0: 'x' } },
      400,
      /^features\.feature_0: expected a number, got a string$/,
    ],
    [
      'POST',
      '/v1/models/production-model:predict',
      { nope: 1 },
      400,
      /^nope: unknown field \(PredictRequest has model_name, model_version, features, inputs, id\)$/,
    ],
    [
      'POST',
      '/v1/models/production-model:batchPredict',
      { dense: { datatype: 'DATA_TYPE_FP32', shape: [2, 10], fp32Data: [[1, 2], [3]] } },
      400,
      /^dense\.fp32Data\[0\]: expected a number, got an array$/,
    ],
    [
      'POST',
      '/v1/models/production-model:batchPredict',
      { dense: { datatype: 'FP99', shape: [1] } },
      400,
      /^dense\.datatype: expected one of DATA_TYPE_UNSPECIFIED/,
    ],
    ['GET', '/v1/registry/models?page_size=abc', undefined, 400, /^page_size: expected an integer, got a string$/],
    ['POST', '/predict', JSON.stringify({ features, pad: 'x'.repeat(300 * 1024) }), 413, /^request body over the limit of 262144 bytes$/],
    ['GET', '/no/such/route', undefined, 404, /^no route for GET \/no\/such\/route$/],
    ['GET', '/predict', undefined, 404, /^no route for GET \/predict$/],
    [
      'DELETE',
      '/v1/models/production-model/metadata',
      undefined,
      405,
      /^DELETE is not allowed on \/v1\/models\/production-model\/metadata; use GET$/,
    ],
  ];
  for (const [method, path, body, status, message] of cases) {
    const res = await call(method, path, body);
    t.is(res.status, status, `${method} ${path}: ${res.text.slice(0, 200)}`);
    t.regex(String(res.json.message), message, `${method} ${path}`);
    // The request id, as google.rpc.RequestInfo, is the X-Request-Id header's.
    t.deepEqual(res.json.details, [{ '@type': 'type.googleapis.com/google.rpc.RequestInfo', requestId: res.headers.get('x-request-id') }]);
  }
  const after = await call('POST', '/predict', { features });
  t.is(after.status, 200);
});

test('gRPC status codes map to HTTP as grpc-gateway maps them', async (t) => {
  const notFound = await call('POST', '/predict', { features, model_name: 'nope' });
  t.is(notFound.status, 404);
  t.is(notFound.json.code, grpc.status.NOT_FOUND);
  const invalid = await call('POST', '/v1/models/production-model:predict', { features: {} });
  t.is(invalid.status, 400);
  t.is(invalid.json.code, grpc.status.INVALID_ARGUMENT);
  // A failing batch fails every request in it: use a server of its own, so no other test's
  // request shares the broken batch.
  const faulty = await startServer({ models: [`production-model=${demoPath}`], inlineMaxUs: 0 }, { faultInjection: true });
  try {
    const internal = await fetch(`${faulty.http}/predict`, {
      method: 'POST',
      body: JSON.stringify({ features, id: 'quiver-fault:worker-throw' }),
    });
    t.is(internal.status, 500);
    // The worker's error stays in the log; the message names the request id it is logged with.
    const requestId = internal.headers.get('x-request-id') ?? '';
    t.deepEqual(await internal.json(), {
      code: grpc.status.INTERNAL,
      message: `inference failed for model 'production-model' version 1 (request id ${requestId}: see the server log)`,
      details: [{ '@type': 'type.googleapis.com/google.rpc.RequestInfo', requestId }],
    });
  } finally {
    await faulty.close();
  }
  const exists = await call('POST', '/v1/registry/models', { name: 'dup' });
  t.is(exists.status, 200);
  const dup = await call('POST', '/v1/registry/models', { name: 'dup' });
  t.is(dup.status, 409);
  t.is(dup.json.code, grpc.status.ALREADY_EXISTS);
  const badTimeout = await call('POST', '/predict', { features }, { 'grpc-timeout': 'soon' });
  t.is(badTimeout.status, 400);
});

test('RESOURCE_EXHAUSTED is 429 with Retry-After, DEADLINE_EXCEEDED is 504', async (t) => {
  const slow = await startServer({
    models: [`slow=${writeModel(dir, 'slow.onnx', slowModel(200))}`],
    maxBatchRows: 1,
    maxQueueRows: 1,
    tasksPerWorker: 1,
    retryPushbackMs: 1500,
  });
  try {
    const body = { features: { feature_0: 1, feature_1: 2, feature_2: 3, feature_3: 4 }, model_name: 'slow' };
    // One request runs and one waits; a third arriving meanwhile is refused. On a busy machine
    // a burst may reach the server slower than the model answers, so bursts repeat until one
    // overflows the queue (an event, not a timing assumption).
    let shed: Response | undefined;
    for (let burst = 0; burst < 20 && shed === undefined; burst++) {
      const results = await Promise.all(
        Array.from({ length: 60 }, () => fetch(slow.http + '/predict', { method: 'POST', body: JSON.stringify(body) })),
      );
      shed = results.find((r) => r.status === 429);
      t.true(results.every((r) => r.status === 200 || r.status === 429));
      await Promise.all(results.map((r) => (r === shed ? undefined : r.text().catch(() => ''))));
    }
    t.truthy(shed, 'no burst of 60 overflowed a queue of one row');
    t.is(shed!.headers.get('retry-after'), '2');
    t.is(((await shed!.json()) as { code: number }).code, grpc.status.RESOURCE_EXHAUSTED);
  } finally {
    await slow.close();
  }
  // Twenty requests of a few ms each queue ahead of one whose deadline is 1 ms away.
  const queued = await startServer({
    models: [`slow=${writeModel(dir, 'slow2.onnx', slowModel(200))}`],
    maxBatchRows: 1,
    tasksPerWorker: 1,
  });
  try {
    const body = { features: { feature_0: 1, feature_1: 2, feature_2: 3, feature_3: 4 }, model_name: 'slow' };
    const busy = Array.from({ length: 20 }, () => fetch(queued.http + '/predict', { method: 'POST', body: JSON.stringify(body) }));
    await new Promise((r) => setTimeout(r, 10));
    const late = await fetch(queued.http + '/predict', { method: 'POST', body: JSON.stringify(body), headers: { 'grpc-timeout': '1m' } });
    t.is(late.status, 504);
    t.is(((await late.json()) as { code: number }).code, grpc.status.DEADLINE_EXCEEDED);
    await Promise.all(busy);
  } finally {
    await queued.close();
  }
});

test('the gateway as a sidecar: quiver gateway --upstream answers like the in-process one', async (t) => {
  const { startSidecar } = await import('./helpers/sidecar.js');
  const sidecar = await startSidecar(srv.address);
  try {
    const inProcess = await call('POST', '/predict', { features, id: 'same' });
    const viaSidecar = await fetch(`${sidecar.url}/predict`, { method: 'POST', body: JSON.stringify({ features, id: 'same' }) });
    t.is(viaSidecar.status, 200);
    t.deepEqual(await viaSidecar.json(), inProcess.json);
    const rpc = await fetch(`${sidecar.url}/v1/models/production-model/metadata`);
    t.deepEqual(((await rpc.json()) as { featureNames: string[] }).featureNames, Object.keys(features));
    const missing = await fetch(`${sidecar.url}/predict`, { method: 'POST', body: JSON.stringify({ features, model_name: 'nope' }) });
    t.is(missing.status, 404);
    const batch = await fetch(`${sidecar.url}/predict/batch`, {
      method: 'POST',
      body: JSON.stringify({ requests: [{ features }, { features: { feature_0: 'x' } }] }),
    });
    const items = ((await batch.json()) as { predictions: Array<Record<string, unknown>> }).predictions;
    t.is(items[0]!.prediction, inProcess.json.prediction);
    t.like(items[1], { error: { code: 3 } });
    const health = await fetch(`${sidecar.url}/health`);
    t.is(health.status, 200);
    const stats = await fetch(`${sidecar.url}/stats`);
    t.is(stats.status, 200);
    t.true(((await stats.json()) as { versions: unknown[] }).versions.length >= 1);
  } finally {
    await sidecar.close();
  }
});

test('registry promotions reach REST clients too: /predict follows Production', async (t) => {
  const reg = new Registry(srv.registryAddress);
  try {
    await reg.upload({ modelName: 'follow' }, demoModel());
    await reg.call('transitionStage', { modelName: 'follow', version: 1, stage: Stage.STAGE_PRODUCTION });
    await reg.call('reloadModel', { modelName: 'follow' });
    const res = await call('POST', '/predict', { features, model_name: 'follow' });
    t.is(res.status, 200);
    t.is(res.json.model_version, '1');
  } finally {
    reg.close();
  }
});

test('the Open Inference Protocol v2 REST routes, in process and through the sidecar, agree with quiver.v1', async (t) => {
  const viaGrpc = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  const body = { id: 'oip-1', inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP32', data: BLUEPRINT_ROW }] };
  const { startSidecar } = await import('./helpers/sidecar.js');
  const sidecar = await startSidecar(srv.address);
  try {
    for (const base of [srv.http, sidecar.url]) {
      t.deepEqual(await (await fetch(`${base}/v2/health/live`)).json(), { live: true });
      t.is((await fetch(`${base}/v2/health/ready`)).status, 200);
      t.is((await fetch(`${base}/v2/models/production-model/ready`)).status, 200);
      const meta = (await (await fetch(`${base}/v2/models/production-model`)).json()) as {
        name: string;
        inputs: Array<{ name: string; datatype: string }>;
      };
      t.is(meta.name, 'production-model');
      t.deepEqual(meta.inputs[0], { name: 'features', datatype: 'FP32', shape: [-1, 10] });
      const res = await fetch(`${base}/v2/models/production-model/infer`, { method: 'POST', body: JSON.stringify(body) });
      t.is(res.status, 200);
      const json = (await res.json()) as { id: string; model_version: string; outputs: Array<{ name: string; data: number[] }> };
      t.is(json.id, 'oip-1');
      t.is(json.model_version, '1');
      t.deepEqual(json.outputs.find((o) => o.name === 'probabilities')!.data, viaGrpc.probabilities);
      const bad = await fetch(`${base}/v2/models/production-model/infer`, {
        method: 'POST',
        body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP32', data: [1, 2] }] }),
      });
      t.is(bad.status, 400);
      t.regex(((await bad.json()) as { error: string }).error, /features/);
      const missing = await fetch(`${base}/v2/models/nope/infer`, { method: 'POST', body: JSON.stringify(body) });
      t.is(missing.status, 404);
      t.truthy(((await missing.json()) as { error: string }).error);
    }
  } finally {
    await sidecar.close();
  }
});

test("the fallback status table (answers without a QUIVER_ERR code) is grpc-gateway's, for every gRPC code", async (t) => {
  const { httpStatusOfCode: httpStatusOf } = await import('../src/core/errors.js');
  const expected: Array<[grpc.status, number]> = [
    [grpc.status.OK, 200],
    [grpc.status.CANCELLED, 499],
    [grpc.status.UNKNOWN, 500],
    [grpc.status.INVALID_ARGUMENT, 400],
    [grpc.status.DEADLINE_EXCEEDED, 504],
    [grpc.status.NOT_FOUND, 404],
    [grpc.status.ALREADY_EXISTS, 409],
    [grpc.status.PERMISSION_DENIED, 403],
    [grpc.status.RESOURCE_EXHAUSTED, 429],
    [grpc.status.FAILED_PRECONDITION, 400],
    [grpc.status.ABORTED, 409],
    [grpc.status.OUT_OF_RANGE, 400],
    [grpc.status.UNIMPLEMENTED, 501],
    [grpc.status.INTERNAL, 500],
    [grpc.status.UNAVAILABLE, 503],
    [grpc.status.DATA_LOSS, 500],
    [grpc.status.UNAUTHENTICATED, 401],
  ];
  for (const [code, http] of expected) t.is(httpStatusOf(code), http, grpc.status[code]);
});

test('the remaining annotated routes: model get/update, version update, alias delete, reload, stream predict', async (t) => {
  await call('POST', '/v1/registry/models', { name: 'routes', description: 'd1', tags: { team: 'a' } });
  const got = await call('GET', '/v1/registry/models/routes');
  t.like(got.json.model, { name: 'routes', description: 'd1', tags: { team: 'a' } });
  const patched = await call('PATCH', '/v1/registry/models/routes', { description: 'd2', tags: { team: '', owner: 'b' } });
  t.like(patched.json.model, { description: 'd2', tags: { owner: 'b' } });
  const onnx = Buffer.from(demoModel()).toString('base64');
  await call('POST', '/v1/registry/versions:upload', `{"metadata": {"modelName": "routes"}}\n{"chunk": "${onnx}"}\n`, {
    'content-type': 'application/x-ndjson',
  });
  const version = await call('PATCH', '/v1/registry/models/routes/versions/1', { description: 'v1 notes', tags: { reviewed: 'yes' } });
  t.like(version.json.version, { description: 'v1 notes', tags: { reviewed: 'yes' } });
  await call('PUT', '/v1/registry/models/routes/aliases/champion', { version: 1 });
  const removed = await call('DELETE', '/v1/registry/models/routes/aliases/champion');
  t.is(removed.status, 200);
  const gone = await call('DELETE', '/v1/registry/models/routes/aliases/champion');
  t.is(gone.status, 404);
  const reload = await call('POST', '/v1/registry/reload', { modelName: 'routes' });
  t.is(reload.status, 200);
  const lines = [0, 1, 2].map((i) => JSON.stringify({ request: { modelName: 'production-model', features, id: `s${i}` } })).join('\n');
  const stream = await call('POST', '/v1/predict:stream', lines, { 'content-type': 'application/x-ndjson' });
  t.is(stream.status, 200, stream.text);
  const answers = stream.text
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { result: { id: string; response: { modelVersion: string } } }).result);
  t.deepEqual(
    answers.map((a) => a.id),
    ['s0', 's1', 's2'],
  );
  t.true(answers.every((a) => a.response.modelVersion === '1'));
});

test('REST PredictStream calls the handlers directly: 20,000 NDJSON lines are answered in order, bad lines in place', async (t) => {
  const big = await startServer({ models: [`production-model=${demoPath}`], maxHttpBodyBytes: 8 * 1024 * 1024 });
  try {
    const n = 20_000;
    const body = Array.from({ length: n }, (_, i) =>
      JSON.stringify({ request: { modelName: 'production-model', features: i === 4321 ? {} : features, id: `s${i}` } }),
    ).join('\n');
    const res = await fetch(`${big.http}/v1/predict:stream`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    t.is(res.status, 200);
    const answers = (await res.text())
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { result: { id: string; status?: { code: number } } }).result);
    t.is(answers.length, n);
    t.true(answers.every((a, i) => a.id === `s${i}`));
    t.is(answers[4321]!.status?.code, 3);
    t.is(answers.filter((a) => (a.status?.code ?? 0) !== 0).length, 1);
  } finally {
    await big.close();
  }
});
