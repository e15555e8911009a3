/**
 * The two planes over REST and gRPC: the registry's REST routes on the registry plane's own
 * HTTP port, one access rule per plane on both transports, the gateway's in-process calls,
 * HTTP request timeouts, and a garbage grpc-timeout.
 */
import { spawn } from 'node:child_process';
import { connect as http2Connect, constants as h2 } from 'node:http2';
import { connect as netConnect, createServer as netServer, type Server as NetServer } from 'node:net';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { DirectInvoker } from '../gateway/direct-invoker.js';
import { OIP_SERVICE, PREDICTION_SERVICE, REGISTRY_SERVICE, scopeOfMethod, scopeOfRoute } from '../src/auth/policy.js';
import { AccessPolicy } from '../src/auth/policy.js';
import { resolveOptions } from '../src/config/options.js';
import { ModelMetadataRequest, ModelReadyRequest } from '../src/gen/inference/grpc_predict_v2.js';
import { GetModelMetadataRequest, PredictRequest } from '../src/gen/quiver/v1/prediction.js';
import { decodeLimits } from '../src/contract/services.js';
import type { QuiverError } from '../src/core/errors.js';
import { handlerSet } from '../src/handlers/handler-set.js';
import { createLogger } from '../src/log/logger.js';
import { statsResponse } from '../src/metrics/stats.js';
import { BLUEPRINT_ROW, blueprintFeatures } from './helpers/fixtures.js';
import { CLI, TSX } from './helpers/process.js';
import { request, startServer } from './helpers/server.js';

const TOKENS = { client: 'tok-client-0123456789abcdef', reader: 'tok-reader-0123456789abcdef' };
const tokenOptions = { authTokens: `client infer ${TOKENS.client}; reader registry:read ${TOKENS.reader}` };

const features = Object.fromEntries(BLUEPRINT_ROW.map((v, i) => [`feature_${i}`, v]));

/** A unary gRPC call with raw bytes: its status code (0 for OK). */
function grpcStatus(address: string, path: string, body: Uint8Array, md = new grpc.Metadata()): Promise<grpc.status> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<grpc.status>((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(body),
      md,
      { deadline: Date.now() + 20_000 },
      (err) => resolve(err === null ? grpc.status.OK : (err.code ?? grpc.status.UNKNOWN)),
    );
  }).finally(() => client.close());
}

const bearer = (token: string): grpc.Metadata => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
};

async function busyPort(): Promise<{ port: number; server: NetServer }> {
  const server = netServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

// --- the registry plane's own HTTP port ------------------------------------------------------

test('registryHttpPort: 8081 by default, from QUIVER_REGISTRY_HTTP_PORT or --registry-http-port; registryRestOnHttpPort off by default', (t) => {
  const defaults = resolveOptions({ env: {} });
  t.is(defaults.registryHttpPort, 8081);
  t.false(defaults.registryRestOnHttpPort);
  t.is(resolveOptions({ env: { QUIVER_REGISTRY_HTTP_PORT: '9091' } }).registryHttpPort, 9091);
  t.true(resolveOptions({ env: { QUIVER_REGISTRY_REST_ON_HTTP_PORT: 'true' } }).registryRestOnHttpPort);
  t.throws(() => resolveOptions({ env: {}, flags: { registryHttpPort: 70000 } }), {
    message: /^option registryHttpPort \(flag --registry-http-port\) must be an integer from 0 to 65535, got 70000$/,
  });
});

test('the registry REST routes are on registryHttpPort; on httpPort they answer 404 naming it; inference routes are not on the registry port', async (t) => {
  const srv = await startServer({ demo: true });
  try {
    t.not(srv.registryHttp, '');
    t.not(srv.registryHttp, srv.http);
    const listed = await fetch(`${srv.registryHttp}/v1/registry/models`);
    t.is(listed.status, 200);
    t.deepEqual(
      ((await listed.json()) as { models: Array<{ name: string }> }).models.map((m) => m.name),
      ['production-model'],
    );
    const registryPort = new URL(srv.registryHttp).port;
    for (const [method, path] of [
      ['GET', '/v1/registry/models'],
      ['POST', '/v1/registry/models/production-model/versions/1:transition'],
      ['DELETE', '/v1/registry/models'],
    ] as const) {
      const res = await fetch(`${srv.http}${path}`, { method, ...(method === 'POST' ? { body: '{}' } : {}) });
      t.is(res.status, 404, `${method} ${path}`);
      const message = ((await res.json()) as { message: string }).message;
      t.is(
        message,
        `no route for ${method} ${path} on this port: the registry REST routes are served on the registry plane's HTTP port ${registryPort} (option registryHttpPort, on registryHost 127.0.0.1)`,
      );
    }
    // The registry port serves the registry plane only.
    const predict = await fetch(`${srv.registryHttp}/predict`, { method: 'POST', body: JSON.stringify({ features }) });
    t.is(predict.status, 404);
    t.is((await fetch(`${srv.registryHttp}/v1/models/m:predict`, { method: 'POST', body: '{}' })).status, 404);
    // Except the console's two read-only inference routes (the model list and the live figures), under their own rule.
    t.is((await fetch(`${srv.registryHttp}/v1/models`)).status, 200);
    t.is((await fetch(`${srv.registryHttp}/v1/stats`)).status, 200);
    t.is((await fetch(`${srv.registryHttp}/v2/health/ready`)).status, 404);
    // /reload-model, the blueprint's route, is on both.
    for (const base of [srv.http, srv.registryHttp]) t.is((await fetch(`${base}/reload-model`, { method: 'POST' })).status, 200, base);
    // Each port's /openapi.json describes what that port serves.
    const registryDoc = (await (await fetch(`${srv.registryHttp}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    t.truthy(registryDoc.paths['/v1/registry/models']);
    t.truthy(registryDoc.paths['/reload-model']);
    for (const path of ['/predict', '/health', '/metrics', '/v1/models/{model_name}:predict'])
      t.is(registryDoc.paths[path], undefined, path);
    const inferenceDoc = (await (await fetch(`${srv.http}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    t.truthy(inferenceDoc.paths['/predict']);
    t.is(inferenceDoc.paths['/v1/registry/models'], undefined);
    // Inference is unaffected.
    t.is((await fetch(`${srv.http}/predict`, { method: 'POST', body: JSON.stringify({ features }) })).status, 200);
  } finally {
    await srv.close();
  }
});

test('registryRestOnHttpPort keeps the single-port layout: the registry routes on httpPort as well', async (t) => {
  const srv = await startServer({ demo: true, registryRestOnHttpPort: true });
  try {
    for (const base of [srv.http, srv.registryHttp]) {
      const res = await fetch(`${base}/v1/registry/models/production-model`);
      t.is(res.status, 200, base);
      t.is(((await res.json()) as { model: { name: string } }).model.name, 'production-model');
    }
    const doc = (await (await fetch(`${srv.http}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    t.truthy(doc.paths['/v1/registry/models']);
  } finally {
    await srv.close();
  }
});

test('registryHttpPort in use: one line naming the option, its flag and its variable; the ports it had taken are released', async (t) => {
  const { port, server } = await busyPort();
  try {
    const err = await t.throwsAsync(startServer({ registryHttpPort: port }));
    t.is(err!.message, `port ${port} (registryHttpPort) is in use: pick another with --registry-http-port or QUIVER_REGISTRY_HTTP_PORT`);
    // The same clash on httpPort still names httpPort.
    const http = await t.throwsAsync(startServer({ httpPort: port }));
    t.regex(http!.message, new RegExp(`^port ${port} \\(httpPort\\) is in use`));
  } finally {
    server.close();
  }
  // Nothing was left listening: a server starts cleanly afterwards.
  const srv = await startServer();
  await srv.close();
  t.pass();
});

test('without a registry there is no registry HTTP port, and the registry routes answer as before', async (t) => {
  const srv = await startServer({ registry: false, demo: true });
  try {
    t.is(srv.registryHttp, '');
    t.is(srv.server.registryHttpPort, undefined);
    const res = await fetch(`${srv.http}/v1/registry/models`);
    t.is(res.status, 404);
    t.is(((await res.json()) as { message: string }).message, 'no route for GET /v1/registry/models');
    // No registry, no console: /ui/ says why.
    const ui = await fetch(`${srv.http}/ui/`);
    t.is(ui.status, 404);
    t.regex(((await ui.json()) as { message: string }).message, /has no registry \(it serves model files\), so it has no console/);
  } finally {
    await srv.close();
  }
});

test('the sidecar (quiver gateway --registry-upstream) serves the registry routes on its own registryHttpPort too', async (t) => {
  const srv = await startServer({ demo: true });
  const proc = spawn(
    process.execPath,
    [
      '--import',
      TSX,
      CLI,
      'gateway',
      '--upstream',
      srv.address,
      '--registry-upstream',
      srv.registryAddress,
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--registry-http-port',
      '0',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  try {
    const ports = await new Promise<{ http: number; registry: number }>((resolve, reject) => {
      let out = '';
      proc.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.includes('"msg":"quiver gateway serving"'));
        if (line !== undefined) {
          const entry = JSON.parse(line) as { httpPort: number; registryHttpPort: number };
          resolve({ http: entry.httpPort, registry: entry.registryHttpPort });
        }
      });
      proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
      void exited.then(() => reject(new Error(`the sidecar exited: ${out}`)));
    });
    t.not(ports.registry, ports.http);
    const listed = await fetch(`http://127.0.0.1:${ports.registry}/v1/registry/models`);
    t.is(listed.status, 200);
    const onHttp = await fetch(`http://127.0.0.1:${ports.http}/v1/registry/models`);
    t.is(onHttp.status, 404);
    t.regex(((await onHttp.json()) as { message: string }).message, new RegExp(`registry plane's HTTP port ${ports.registry} `));
    t.is((await fetch(`http://127.0.0.1:${ports.http}/predict`, { method: 'POST', body: JSON.stringify({ features }) })).status, 200);
  } finally {
    proc.kill('SIGTERM');
    await exited;
    await srv.close();
  }
});

// --- one rule per plane, gRPC and REST alike --------------------------------------------------

test('the rule: probes are open, everything else of the inference plane follows authInference, on both transports', (t) => {
  const pairs: Array<[string, string, string, boolean]> = [
    // [gRPC service, method, REST path, open]
    [OIP_SERVICE, 'ServerLive', '/v2/health/live', true],
    [OIP_SERVICE, 'ServerReady', '/v2/health/ready', true],
    [OIP_SERVICE, 'ServerMetadata', '/v2', false],
    [OIP_SERVICE, 'ModelReady', '/v2/models/m/ready', false],
    [OIP_SERVICE, 'ModelReady', '/v2/models/m/versions/1/ready', false],
    [OIP_SERVICE, 'ModelMetadata', '/v2/models/m', false],
    [OIP_SERVICE, 'ModelInfer', '/v2/models/m/versions/1/infer', false],
    [PREDICTION_SERVICE, 'Predict', '/predict', false],
    [PREDICTION_SERVICE, 'GetModelMetadata', '/model-info', false],
    [PREDICTION_SERVICE, 'GetStats', '/stats', false],
    [REGISTRY_SERVICE, 'ReloadModel', '/reload-model', false],
    ['grpc.health.v1.Health', 'Check', '/health', true],
  ];
  for (const [service, method, path, open] of pairs) {
    t.is(scopeOfMethod(service, method), scopeOfRoute(path), `${service}/${method} and ${path} follow one rule`);
    t.is(scopeOfMethod(service, method) === undefined, open, `${service}/${method}`);
  }
  t.is(scopeOfRoute('/metrics'), undefined);
  t.is(scopeOfMethod('grpc.reflection.v1.ServerReflection', 'ServerReflectionInfo'), undefined);
});

test('authInference: each probe answers without a token and each inference call needs one, the same over gRPC and REST', async (t) => {
  const srv = await startServer({ ...tokenOptions, authInference: true, demo: true });
  try {
    const modelRef = ModelReadyRequest.encode({ name: 'production-model', version: '' }).finish();
    const pairs: Array<{ what: string; grpc: [string, Uint8Array]; rest: [string, string, string?]; open: boolean }> = [
      {
        what: 'liveness',
        grpc: ['/inference.GRPCInferenceService/ServerLive', new Uint8Array()],
        rest: ['GET', '/v2/health/live'],
        open: true,
      },
      {
        what: 'readiness',
        grpc: ['/inference.GRPCInferenceService/ServerReady', new Uint8Array()],
        rest: ['GET', '/v2/health/ready'],
        open: true,
      },
      { what: 'health', grpc: ['/grpc.health.v1.Health/Check', new Uint8Array()], rest: ['GET', '/health'], open: true },
      {
        what: 'model readiness',
        grpc: ['/inference.GRPCInferenceService/ModelReady', modelRef],
        rest: ['GET', '/v2/models/production-model/ready'],
        open: false,
      },
      {
        what: 'server metadata',
        grpc: ['/inference.GRPCInferenceService/ServerMetadata', new Uint8Array()],
        rest: ['GET', '/v2'],
        open: false,
      },
      {
        what: 'OIP model metadata',
        grpc: [
          '/inference.GRPCInferenceService/ModelMetadata',
          ModelMetadataRequest.encode({ name: 'production-model', version: '' }).finish(),
        ],
        rest: ['GET', '/v2/models/production-model'],
        open: false,
      },
      {
        what: 'model listing',
        grpc: ['/quiver.v1.PredictionService/ListModels', new Uint8Array()],
        rest: ['GET', '/v1/models'],
        open: false,
      },
      {
        what: 'model metadata',
        grpc: [
          '/quiver.v1.PredictionService/GetModelMetadata',
          GetModelMetadataRequest.encode({ modelName: 'production-model', modelVersion: '' }).finish(),
        ],
        rest: ['GET', '/v1/models/production-model/metadata'],
        open: false,
      },
      {
        what: 'prediction',
        grpc: [
          '/quiver.v1.PredictionService/Predict',
          PredictRequest.encode(request({ features: blueprintFeatures(BLUEPRINT_ROW) })).finish(),
        ],
        rest: ['POST', '/predict', JSON.stringify({ features })],
        open: false,
      },
    ];
    for (const p of pairs) {
      const rest = (token?: string): Promise<Response> =>
        fetch(`${srv.http}${p.rest[1]}`, {
          method: p.rest[0],
          headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
          ...(p.rest[2] === undefined ? {} : { body: p.rest[2] }),
        });
      const anonGrpc = await grpcStatus(srv.address, p.grpc[0], p.grpc[1]);
      const anonRest = (await rest()).status;
      if (p.open) {
        t.is(anonGrpc, grpc.status.OK, `${p.what} over gRPC, no token`);
        t.is(anonRest, 200, `${p.what} over REST, no token`);
      } else {
        t.is(anonGrpc, grpc.status.UNAUTHENTICATED, `${p.what} over gRPC, no token`);
        t.is(anonRest, 401, `${p.what} over REST, no token`);
        t.is(await grpcStatus(srv.address, p.grpc[0], p.grpc[1], bearer(TOKENS.reader)), grpc.status.PERMISSION_DENIED, p.what);
        t.is((await rest(TOKENS.reader)).status, 403, `${p.what} over REST, a token without infer`);
      }
      t.is(await grpcStatus(srv.address, p.grpc[0], p.grpc[1], bearer(TOKENS.client)), grpc.status.OK, `${p.what} over gRPC, infer token`);
      t.is((await rest(TOKENS.client)).status, 200, `${p.what} over REST, infer token`);
    }
  } finally {
    await srv.close();
  }
});

// --- the gateway's in-process calls -----------------------------------------------------------

test('/model-info from loopback without tokens shows the registry stage and lineage', async (t) => {
  const srv = await startServer({ demo: true });
  try {
    const res = await fetch(`${srv.http}/model-info`);
    t.is(res.status, 200);
    const info = (await res.json()) as { stage?: string; lineage?: { algorithm: string; dataset_rows: number } };
    t.is(info.stage, 'Production');
    t.truthy(info.lineage);
    t.not(info.lineage!.algorithm, '');
    t.true(info.lineage!.dataset_rows > 0);
  } finally {
    await srv.close();
  }
});

test("an access-checked direct call never changes the caller's metadata and sees the HTTP client's address each time", async (t) => {
  const srv = await startServer({ demo: true });
  const options = srv.server.options;
  const handlers = handlerSet({
    core: srv.server.core,
    log: createLogger('silent'),
    stats: (name) => statsResponse(srv.server.metrics, srv.server.core.models, name),
    serving: () => true,
    registry: { registry: srv.server.registry!, reload: async () => ({ served: [], failures: [] }) },
  });
  const invoker = new DirectInvoker(handlers, decodeLimits(options.maxRequestRows), AccessPolicy.fromOptions(options), () => true);
  try {
    const md = new grpc.Metadata();
    md.set('x-custom', 'kept');
    const before = JSON.stringify(md.toJSON());
    const local = { metadata: md, deadline: Infinity, signal: new AbortController().signal, peer: '127.0.0.1' };
    // Registry calls are for local clients only: the HTTP client's address (127.0.0.1) must be seen each time.
    await invoker.unary('/quiver.v1.RegistryService/ListRegisteredModels', Buffer.alloc(0), local);
    await invoker.unary('/quiver.v1.RegistryService/ListRegisteredModels', Buffer.alloc(0), local);
    t.is(JSON.stringify(md.toJSON()), before);
    // A remote HTTP client is refused by the same rule a gRPC client is.
    const remote = { ...local, peer: '203.0.113.7' };
    const err = await t.throwsAsync(invoker.unary('/quiver.v1.RegistryService/ListRegisteredModels', Buffer.alloc(0), remote));
    t.is((err as QuiverError).code, 'QUIVER_ERR_PERMISSION_DENIED');
    t.regex(err!.message, /accepts only local clients/);
  } finally {
    invoker.close();
    await srv.close();
  }
});

// --- HTTP request timeouts ----------------------------------------------------------------------

/** Resolves with what the server sent before it closed the connection, and how long that took. */
function trickle(port: number, head: string, every: () => string | undefined): Promise<{ text: string; ms: number }> {
  const started = Date.now();
  const socket = netConnect(port, '127.0.0.1');
  let text = '';
  let timer: NodeJS.Timeout | undefined;
  socket.on('connect', () => {
    socket.write(head);
    timer = setInterval(() => {
      const piece = every();
      if (piece !== undefined && socket.writable) socket.write(piece);
    }, 100);
  });
  socket.on('data', (d: Buffer) => (text += d.toString()));
  return new Promise((resolve) => {
    const done = (): void => {
      clearInterval(timer);
      resolve({ text, ms: Date.now() - started });
    };
    socket.on('close', done);
    socket.on('error', () => undefined);
  });
}

test('a body that trickles in and never ends gets 408 and the connection closed; others are served meanwhile', async (t) => {
  const srv = await startServer({ demo: true, httpRequestTimeoutMs: 1000, httpHeadersTimeoutMs: 500 });
  try {
    const port = Number(new URL(srv.http).port);
    const slowBody = trickle(
      port,
      'POST /predict HTTP/1.1\r\nhost: quiver\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{',
      () => ' ',
    );
    const slowHeaders = trickle(port, 'GET /health HTTP/1.1\r\nhost: quiver\r\n', () => 'x-slow: 1\r\n');
    // Meanwhile, other clients are answered.
    for (let i = 0; i < 3; i++) t.is((await fetch(`${srv.http}/health`)).status, 200);
    const body = await slowBody;
    t.regex(body.text, /^HTTP\/1\.1 408 /, 'the slow body is answered 408');
    t.true(body.ms < 15_000, `closed after ${body.ms} ms`);
    const headers = await slowHeaders;
    t.regex(headers.text, /^HTTP\/1\.1 408 /, 'slow headers are answered 408');
    t.true(headers.ms < 15_000, `closed after ${headers.ms} ms`);
    t.is((await fetch(`${srv.http}/predict`, { method: 'POST', body: JSON.stringify({ features }) })).status, 200);
  } finally {
    await srv.close();
  }
});

test('HTTP timeouts: defaults, and headers may not be given longer than the whole request', (t) => {
  const o = resolveOptions({ env: {} });
  t.is(o.httpRequestTimeoutMs, 30_000);
  t.is(o.httpHeadersTimeoutMs, 10_000);
  t.is(o.httpKeepAliveTimeoutMs, 72_000);
  t.throws(() => resolveOptions({ env: {}, flags: { httpRequestTimeoutMs: 1000, httpHeadersTimeoutMs: 2000 } }), {
    message: 'option httpHeadersTimeoutMs (2000) must be at most httpRequestTimeoutMs (1000): the headers are part of the request',
  });
  t.notThrows(() => resolveOptions({ env: {}, flags: { httpRequestTimeoutMs: 0, httpHeadersTimeoutMs: 2000 } }));
});

test('two listeners on one port are refused when the options are resolved, naming both options', (t) => {
  t.throws(() => resolveOptions({ env: {}, flags: { httpPort: 8081 } }), {
    message:
      'options httpPort and registryHttpPort are both 8081: each listener needs a port of its own; change one with --registry-http-port or QUIVER_REGISTRY_HTTP_PORT',
  });
  t.throws(() => resolveOptions({ env: { QUIVER_METRICS_PORT: '50051' } }), {
    message: /^options grpcPort and metricsPort are both 50051/,
  });
  // Different addresses may share a number; listeners that are off take no port; 0 is always free.
  t.notThrows(() => resolveOptions({ env: {}, flags: { httpPort: 8081, registryHost: '127.0.0.2', httpHost: '127.0.0.1' } }));
  t.notThrows(() => resolveOptions({ env: {}, flags: { metricsPort: 8080, metricsServer: false } }));
  t.notThrows(() => resolveOptions({ env: {}, flags: { httpPort: 0, registryHttpPort: 0, metricsPort: 0 } }));
});

// --- grpc-timeout -----------------------------------------------------------------------------

/** One raw HTTP/2 gRPC request: its response headers and trailers together. */
function rawGrpc(address: string, path: string, extra: Record<string, string>): Promise<Record<string, unknown>> {
  const session = http2Connect(`http://${address}`);
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    session.on('error', reject);
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    });
    let got: Record<string, unknown> = {};
    stream.on('response', (headers) => (got = { ...got, ...headers }));
    stream.on('trailers', (trailers) => (got = { ...got, ...trailers }));
    stream.on('data', () => undefined);
    stream.on('end', () => resolve(got));
    stream.on('error', reject);
    // An empty message: the 5-byte gRPC frame header.
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  }).finally(() => session.close());
}

test('a garbage grpc-timeout is INVALID_ARGUMENT with a clear message, on both planes; a good one still works', async (t) => {
  const srv = await startServer({ demo: true });
  try {
    for (const [address, path] of [
      [srv.address, '/quiver.v1.PredictionService/ListModels'],
      [srv.registryAddress, '/quiver.v1.RegistryService/ListRegisteredModels'],
    ] as const) {
      for (const value of ['garbage', '1x', '123456789S', '']) {
        const answer = await rawGrpc(address, path, { 'grpc-timeout': value });
        t.is(answer['grpc-status'], String(grpc.status.INVALID_ARGUMENT), `${path} grpc-timeout ${JSON.stringify(value)}`);
        t.is(
          decodeURIComponent(String(answer['grpc-message'])),
          `grpc-timeout: ${JSON.stringify(value)} is not a timeout; expected 1 to 8 digits and a unit (H, M, S, m, u, n), such as 500m or 2S`,
        );
      }
      const fine = await rawGrpc(address, path, { 'grpc-timeout': '20S' });
      t.is(fine['grpc-status'], '0', path);
    }
    // The server is still up.
    t.is((await srv.client.listModels()).models.length, 1);
  } finally {
    await srv.close();
  }
});
