/**
 * Bounded parsing (issue 11): every REST and OIP parser checks counts, depth and sizes before
 * it does per-item work, so the finding requests (a 2M-item /predict/batch, 1.3M `{}` to
 * :batchPredict, OIP `data` nested 2M deep, a 500k-dimension shape) are answered at once with
 * a 400 naming the field, the event loop stays responsive (a concurrent /health is answered)
 * and memory stays flat; echoes of user input are bounded (a 100k-character model name, a
 * 500k shape); scalar fields are type-checked (an object page_token is a 400, not a 500);
 * and no driver or runtime text or absolute path reaches a client, while the log keeps it.
 *
 * Timing bounds are generous (a loaded 2-core machine): the old code took 5 to 20 s.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import fc from 'fast-check';
import { pino } from 'pino';

import { loadRoot } from '../gateway/descriptors.js';
import { checkMessage, parseBody } from '../gateway/json.js';
import { errorAnswer } from '../gateway/status.js';
import { GrpcCallError } from '../gateway/invoker.js';
import { reportError } from '../src/core/error-report.js';
import { clientText, echo, modelLoadFailed, QuiverError } from '../src/core/errors.js';
import { scanJson } from '../src/core/validate.js';
import { tensorToHost } from '../src/contract/convert.js';
import { DataType } from '../src/gen/quiver/v1/tensor.js';
import { ModelProto } from '../src/gen/onnx/onnx-ml.js';
import { parseInferBody } from '../gateway/oip.js';
import { configureFuzz } from './helpers/fuzz.js';
import { demoModel, reshapeMismatchModel, tmp, writeModel } from './helpers/fixtures.js';
import { grpcError, type Running, startServer } from './helpers/server.js';

configureFuzz();

const dir = tmp();
let srv: Running;
/** The registry plane's REST base: its own port when the server has one, else the main port. */
let registryHttp: string;

test.before(async () => {
  srv = await startServer({ models: [`production-model=${writeModel(dir, 'demo.onnx', demoModel())}`] });
  registryHttp = (srv as { registryHttp?: string }).registryHttp || srv.http;
});

test.after.always(async () => {
  await srv?.close();
});

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly ms: number;
}

async function send(base: string, method: string, path: string, body?: string): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(base + path, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  return { status: res.status, text, ms: performance.now() - started };
}

const messageOf = (a: Answer): string => {
  const body = JSON.parse(a.text) as { message?: string; error?: string };
  return body.message ?? body.error ?? '';
};

// The timed tests run serially (test.serial): ava runs a file's other tests concurrently, in
// this same process, and they would measure each other.

/**
 * Sends one big request with a /health probe alongside: the answer, how long the probe waited,
 * the worst event-loop delay meanwhile (the server is in this process), the RSS growth, and
 * the slack a loaded machine gets (ten JSON.parse times of the body, measured after).
 */
async function underLoad(
  method: string,
  path: string,
  body: string,
  log?: (m: string) => void,
): Promise<{ answer: Answer; healthMs: number; lagMs: number; rssMb: number; slackMs: number }> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  const rss0 = process.memoryUsage().rss;
  let rssMax = rss0;
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, process.memoryUsage().rss)), 20);
  lag.enable();
  try {
    const big = send(srv.http, method, path, body);
    const health = send(srv.http, 'GET', '/health');
    const [answer, probe] = await Promise.all([big, health]);
    if (probe.status !== 200) throw new Error(`/health answered ${probe.status}`);
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    // Slack for a loaded machine, in units of one JSON.parse of the body here and now; the old
    // code took over 100 of them.
    const slackMs = 10 * parseMs(body);
    const r = { answer, healthMs: probe.ms, lagMs: lag.max / 1e6, rssMb: (rssMax - rss0) / 2 ** 20, slackMs };
    log?.(
      `${method} ${path} (${(body.length / 2 ** 20).toFixed(1)} MiB): ${answer.status} in ${answer.ms.toFixed(0)} ms; ` +
        `/health ${probe.ms.toFixed(0)} ms; lag ${r.lagMs.toFixed(0)} ms; RSS +${r.rssMb.toFixed(0)} MB`,
    );
    return r;
  } finally {
    lag.disable();
    clearInterval(sampler);
  }
}

// ---- Finding 1: 2M-item /predict/batch, 1.3M `{}` :batchPredict ----

test.serial(
  'a 4 MB /predict/batch of 2M items is a 400 naming requests at once; /health is answered meanwhile; memory stays flat',
  async (t) => {
    const body = JSON.stringify({ requests: new Array(2_000_000).fill(1) });
    t.true(body.length < 4 * 2 ** 20);
    const r = await underLoad('POST', '/predict/batch', body, t.log);
    t.is(r.answer.status, 400, r.answer.text);
    t.regex(messageOf(r.answer), /^requests: 2000000 instances is over the limit of \d+ per request/);
    // Was: 400 after 18-23 s, /health waited 16.5 s, RSS grew by 1.9 GB.
    t.true(r.answer.ms < 2000 + r.slackMs, `answered in ${r.answer.ms.toFixed(0)} ms`);
    t.true(r.healthMs < 2000 + r.slackMs, `/health waited ${r.healthMs.toFixed(0)} ms`);
    t.true(r.lagMs < 1000 + r.slackMs, `event-loop lag ${r.lagMs.toFixed(0)} ms`);
    t.true(r.rssMb < 400, `RSS grew by ${r.rssMb.toFixed(0)} MB`);
  },
);

test.serial('1.3M {} to :batchPredict (transcoded) is a 400 naming requests at once', async (t) => {
  const body = JSON.stringify({ requests: new Array(1_300_000).fill({}) });
  const r = await underLoad('POST', '/v1/models/production-model:batchPredict', body, t.log);
  t.is(r.answer.status, 400, r.answer.text);
  t.regex(messageOf(r.answer), /^requests: 1300000 items is over the limit of 8192 per request$/);
  // Was: 5.1 s (a parse, a check, a conversion and an encoding of 1.3M messages).
  t.true(r.answer.ms < 2000 + r.slackMs, `answered in ${r.answer.ms.toFixed(0)} ms`);
  t.true(r.lagMs < 1000 + r.slackMs, `event-loop lag ${r.lagMs.toFixed(0)} ms`);
  t.true(r.rssMb < 400, `RSS grew by ${r.rssMb.toFixed(0)} MB`);
});

test('batches at the limit are still served; one over is refused with the configured limit', async (t) => {
  const row = Object.fromEntries([1.5, 2.3, -0.8, 0.1, -1.2, 0.7, 1.8, -0.3, 2.1, 0.9].map((v, i) => [`feature_${i}`, v]));
  const ok = await send(
    srv.http,
    'POST',
    '/v1/models/production-model:batchPredict',
    JSON.stringify({ requests: [{ features: row }, { features: row }] }),
  );
  t.is(ok.status, 200, ok.text);
  const over = await send(srv.http, 'POST', '/predict/batch', JSON.stringify({ requests: new Array(8193).fill({ features: row }) }));
  t.is(over.status, 400);
  t.regex(messageOf(over), /^requests: 8193 instances is over the limit of 8192 per request/);
});

test('a configured maxRequestRows is the REST batch limit too, checked by the scan before the body is parsed', async (t) => {
  const small = await startServer({ models: [`production-model=${writeModel(dir, 'demo-small.onnx', demoModel())}`], maxRequestRows: 3 });
  try {
    const row = Object.fromEntries([1.5, 2.3, -0.8, 0.1, -1.2, 0.7, 1.8, -0.3, 2.1, 0.9].map((v, i) => [`feature_${i}`, v]));
    const three = await send(small.http, 'POST', '/predict/batch', JSON.stringify({ requests: [row, row, row] }));
    t.is(three.status, 200, three.text);
    const blueprint = await send(small.http, 'POST', '/predict/batch', JSON.stringify({ requests: [row, row, row, row] }));
    t.is(blueprint.status, 400);
    t.regex(messageOf(blueprint), /requests: 4 instances is over the limit of 3/);
    const transcoded = await send(
      small.http,
      'POST',
      '/v1/models/production-model:batchPredict',
      JSON.stringify({ requests: new Array(4).fill({ features: row }) }),
    );
    t.is(transcoded.status, 400);
    t.regex(messageOf(transcoded), /requests.*4 .*over the limit of 3/);
  } finally {
    await small.close();
  }
});

test.serial('NDJSON stream bodies are counted before any line is parsed', async (t) => {
  const body = '{}\n'.repeat(70_000);
  const r = await send(srv.http, 'POST', '/v1/predict:stream', body);
  t.is(r.status, 400, r.text);
  t.regex(messageOf(r), /^request body: more than 65536 NDJSON lines/);
  t.true(r.ms < 2000, `answered in ${r.ms.toFixed(0)} ms`);
});

// ---- Finding 2: OIP infer skipped maxJsonDepth ----

test.serial('OIP infer with data nested 2M deep is refused by the depth scan before parsing', async (t) => {
  const body = `{"inputs":[{"name":"features","shape":[1,10],"datatype":"FP32","data":${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}}]}`;
  const r = await underLoad('POST', '/v2/models/production-model/infer', body, t.log);
  t.is(r.answer.status, 400, r.answer.text);
  // Was: parsed in full, then "data: 0 elements, but shape [1, 10] ..." after 1.2 s.
  t.is(messageOf(r.answer), 'request body: JSON nested deeper than 64 levels; flatten it (maxJsonDepth)');
  t.true(r.answer.ms < 2000 + r.slackMs, `answered in ${r.answer.ms.toFixed(0)} ms`);
  t.true(r.lagMs < 1000 + r.slackMs, `event-loop lag ${r.lagMs.toFixed(0)} ms`);
});

test('OIP infer honours the configured maxJsonDepth, like the other routes', async (t) => {
  const shallow = await startServer({ models: [`production-model=${writeModel(dir, 'demo2.onnx', demoModel())}`], maxJsonDepth: 6 });
  try {
    // 1 (body) + 1 (inputs) + 1 (tensor) + 4 (data) = 7 levels.
    const body = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP32', data: [[[new Array(10).fill(1)]]] }] });
    const r = await send(shallow.http, 'POST', '/v2/models/production-model/infer', body);
    t.is(r.status, 400);
    t.is(messageOf(r), 'request body: JSON nested deeper than 6 levels; flatten it (maxJsonDepth)');
    const flat = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 10], datatype: 'FP32', data: new Array(10).fill(1) }] });
    t.is((await send(shallow.http, 'POST', '/v2/models/production-model/infer', flat)).status, 200);
  } finally {
    await shallow.close();
  }
});

test('OIP infer counts inputs and shape dimensions before any per-tensor work', (t) => {
  const many = JSON.stringify({ inputs: new Array(5000).fill({ name: 'x', shape: [1], datatype: 'FP32', data: [1] }) });
  t.throws(() => parseInferBody(many, 'm', ''), { message: 'inputs: 5000 tensors is over the limit of 1024 per request' });
  const rank = JSON.stringify({ inputs: [{ name: 'x', shape: new Array(100).fill(1), datatype: 'FP32', data: [1] }] });
  t.throws(() => parseInferBody(rank, 'm', ''), { message: 'inputs[0].shape: 100 dimensions is over the limit of 64 per request' });
});

// ---- Finding 4: object-valued scalar fields (page_token) ----

test('an object page_token is a 400 naming the field on every registry list route, never a 500', async (t) => {
  for (const path of ['/v1/registry/models', '/v1/registry/models/production-model/versions', '/v1/registry/audit']) {
    for (const query of ['page_token.x=1', 'page_token[x]=1', 'pageToken.x=1', 'page_token=a&page_token.b=1']) {
      const r = await send(registryHttp, 'GET', `${path}?${query}`);
      t.is(r.status, 400, `${path}?${query}: ${r.text}`);
      t.regex(messageOf(r), /^page_?[tT]oken/, `${path}?${query}`);
    }
  }
  const root = loadRoot();
  for (const name of ['ListRegisteredModelsRequest', 'ListVersionsRequest', 'GetAuditLogRequest']) {
    const type = root.lookupType(`quiver.v1.${name}`);
    for (const bad of [{}, [], { a: 1 }, 1, true]) {
      t.throws(() => checkMessage(type, { page_token: bad }), { message: /^page_token: expected a string, got / }, name);
      t.throws(() => checkMessage(type, { pageToken: bad }), { message: /^pageToken: expected a string, got / }, name);
    }
  }
});

test('scalar fields of every transcoded body route are type-checked: a wrong type is a 400 naming the field', async (t) => {
  const doc = JSON.parse((await send(srv.http, 'GET', '/openapi.json')).text) as {
    paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { $ref?: string } }> } }>>;
    components: { schemas: Record<string, { properties?: Record<string, { type?: string; $ref?: string }> }> };
  };
  let checked = 0;
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const media = op.requestBody?.content['application/json'];
      const ref = media?.schema.$ref;
      if (ref === undefined || template.includes(':stream') || template.includes(':upload')) continue;
      const schema = doc.components.schemas[ref.replace('#/components/schemas/', '')];
      const path = template.replace(/\{[^}]+\}/g, 'production-model');
      const base = path.startsWith('/v1/registry') ? registryHttp : srv.http;
      for (const [field, prop] of Object.entries(schema?.properties ?? {})) {
        if (!['string', 'integer', 'number', 'boolean'].includes(prop.type ?? '')) continue;
        if (template.includes(`{${field}}`)) continue;
        for (const bad of [{}, [1]]) {
          const r = await send(base, method.toUpperCase(), path, JSON.stringify({ [field]: bad }));
          t.is(r.status, 400, `${method} ${path} ${field}=${JSON.stringify(bad)}: ${r.text}`);
          t.true(messageOf(r).startsWith(`${field}: expected`), `${method} ${path}: ${messageOf(r)}`);
          checked++;
        }
      }
    }
  }
  t.true(checked >= 10, `${checked} fields checked`);
});

// ---- Finding 5: bounded echoes ----

test('a 100k-character model name is echoed clipped, with its length, over REST, OIP and gRPC', async (t) => {
  const name = 'm'.repeat(100_000);
  const rest = await send(srv.http, 'POST', '/predict', JSON.stringify({ model_name: name, features: {} }));
  t.is(rest.status, 404);
  t.true(rest.text.length < 1024, `${rest.text.length} bytes`);
  t.regex(messageOf(rest), /^model 'm{64}\.\.\. \(100000 characters\)' is not served/);
  const transcoded = await send(srv.http, 'POST', `/v1/models/production-model:predict`, JSON.stringify({ modelName: name }));
  t.true(transcoded.text.length < 1024, `${transcoded.text.length} bytes`);
  const oip = await send(
    srv.http,
    'POST',
    '/v2/models/production-model/infer',
    JSON.stringify({ inputs: [{ name, shape: [1], datatype: 'FP32', data: [1] }] }),
  );
  t.is(oip.status, 400);
  t.true(oip.text.length < 1024, `${oip.text.length} bytes`);
  const err = await grpcError(srv.client.predict({ modelName: name }));
  t.is(err.code, grpc.status.NOT_FOUND);
  t.true(err.details.length < 1024, `${err.details.length} characters`);
  t.true(err.details.includes('(100000 characters)'));
});

test('a 500k-element shape is echoed bounded: the REST answer is under 1 KB, not 1.5 MB', async (t) => {
  const shape = new Array(500_000).fill(1);
  const oip = await send(
    srv.http,
    'POST',
    '/v2/models/production-model/infer',
    JSON.stringify({ inputs: [{ name: 'features', shape, datatype: 'FP32', data: [1, 2] }] }),
  );
  t.is(oip.status, 400);
  t.true(oip.text.length < 1024, `${oip.text.length} bytes`);
  t.regex(messageOf(oip), /^inputs\[0\]\.shape: 500000 dimensions is over the limit of 64/);
  const transcoded = await send(
    srv.http,
    'POST',
    '/v1/models/production-model:predict',
    JSON.stringify({ inputs: { features: { datatype: 'DATA_TYPE_FP32', shape, fp32Data: [1, 2] } } }),
  );
  t.is(transcoded.status, 400, transcoded.text.slice(0, 300));
  t.true(transcoded.text.length < 1024, `${transcoded.text.length} bytes`);
  // Over gRPC: refused by rank, in a short message.
  const empty = { fp64Data: [], int32Data: [], int64Data: [], boolData: [], rawData: Buffer.alloc(0) };
  const viaGrpc = await grpcError(
    srv.client.predict({ inputs: new Map([['features', { datatype: DataType.DATA_TYPE_FP32, shape, fp32Data: [1, 2], ...empty }]]) }),
  );
  t.is(viaGrpc.code, grpc.status.INVALID_ARGUMENT);
  t.true(viaGrpc.details.length < 1024, `${viaGrpc.details.length} characters`);
  t.regex(viaGrpc.details, /shape: 500000 dimensions is over the limit of 64$/);
  // The gRPC conversion bounds it too.
  const tensor = {
    datatype: DataType.DATA_TYPE_FP32,
    shape: new Array(40).fill(1),
    fp32Data: [1, 2],
    fp64Data: [],
    int32Data: [],
    int64Data: [],
    boolData: [],
    rawData: Buffer.alloc(0),
  };
  const e = t.throws(() => tensorToHost(tensor, 'inputs.x'));
  t.is(e?.message, 'inputs.x.fp32_data: 2 elements, but shape [1, 1, 1, 1, 1, 1, 1, 1, ... (40 in all)] needs 1');
});

test('echo clips long input to 64 characters with its length; short input is whole', (t) => {
  t.is(echo('abc'), 'abc');
  t.is(echo('x'.repeat(64)), 'x'.repeat(64));
  t.is(echo('x'.repeat(65)), `${'x'.repeat(64)}... (65 characters)`);
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.string({ maxLength: 5000 }), (s) => {
        const e = echo(s);
        return e.length <= 64 + 30 && (s.length <= 64 ? e === s : e.startsWith(s.slice(0, 64)) && e.endsWith(`(${s.length} characters)`));
      }),
    ),
  );
});

// ---- Finding 6: no driver or runtime text, no absolute path ----

/** onnxruntime's own messages, as the trial load and the warm-up report them. */
const ORT_MESSAGES = [
  "trial load of model 'trunc' version 1 failed: onnxruntime cannot load it: Deserialize tensor W failed.endian_utils.cc:66 CopyLittleEndian source and destination buffer size mismatch",
  "model 'reshape' version 1: onnxruntime could not load or run it: Non-zero status code returned while running Reshape node. Name:'reshape_0' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:84 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) size != 0 && (input_shape_size % size) == 0 was false. The input tensor cannot be reshaped to the requested shape. Input shape:{1,3}, requested shape:{-1,5}\n",
  "model 'x' version 1: cannot read /tmp/quiver-test-abc/models/demo.onnx: ENOENT: no such file or directory, open '/tmp/quiver-test-abc/models/demo.onnx'",
  'Load model from /var/lib/quiver/artifacts/ab/abcdef.onnx failed:Protobuf parsing failed.',
];

const LEAKS = [/\.(cc|h|cpp):\d+/, /onnxruntime::/, /(^|[\s'"(])\/(tmp|var|home|work|onnxruntime_src|usr)\//, / was false\./, /\n/];

test('clientText: onnxruntime locations, frames and conditions and absolute paths are taken out; the helpful rest stays', (t) => {
  const cleaned = ORT_MESSAGES.map(clientText);
  for (const c of cleaned) for (const leak of LEAKS) t.notRegex(c, leak, c);
  t.is(
    cleaned[0],
    "trial load of model 'trunc' version 1 failed: onnxruntime cannot load it: Deserialize tensor W failed. CopyLittleEndian source and destination buffer size mismatch",
  );
  t.regex(
    cleaned[1] as string,
    /The input tensor cannot be reshaped to the requested shape\. Input shape:\{1,3\}, requested shape:\{-1,5\}$/,
  );
  t.is(cleaned[2], "model 'x' version 1: cannot read demo.onnx: ENOENT: no such file or directory, open 'demo.onnx'");
  t.is(cleaned[3], 'Load model from abcdef.onnx failed:Protobuf parsing failed.');
  // Route paths, gRPC method names and URLs are not files: they stay.
  for (const keep of [
    'no route for GET /v1/foo/bar',
    'no route for GET /no/such/route',
    'method POST is not allowed on /v2/models/x/ready; use GET',
    'call /quiver.v1.PredictionService/Predict failed',
    'artifact abc cannot be read from s3://bucket/key/x.onnx',
    'requests: 2000000 instances is over the limit of 8192 per request',
    'ratio 1.5/2',
  ]) {
    t.is(clientText(keep), keep);
  }
});

test('clientText is one line, bounded, and fast on hostile input', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 2000 }),
          fc.constantFrom(...ORT_MESSAGES),
          fc
            .tuple(fc.constantFrom('a/', 'std::a ', "'x", 'a.cc:1 ', ' was false. ', '/', 'm'), fc.integer({ min: 1, max: 60_000 }))
            .map(([u, n]) => u.repeat(n)),
        ),
        (m) => {
          const started = performance.now();
          const c = clientText(m);
          const ms = performance.now() - started;
          return !c.includes('\n') && c.length <= 1024 + 30 && ms < 1000;
        },
      ),
      { numRuns: 60 },
    ),
  );
});

function capture(): { log: pino.Logger; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines: () => chunks.join('') };
}

test('reportError: runtime text goes to the log with the request id; the client gets the cleaned line and the id', (t) => {
  for (const raw of ORT_MESSAGES) {
    const { log, lines } = capture();
    const { message } = reportError(new QuiverError('QUIVER_ERR_MODEL_LOAD', raw), log, 'req-42');
    for (const leak of LEAKS) t.notRegex(message, leak, message);
    t.true(message.endsWith('(request id req-42: see the server log)'), message);
    const logged = lines();
    t.true(logged.includes('req-42'));
    t.true(logged.includes(JSON.stringify(raw.slice(0, 60)).slice(1, -1)), 'the log keeps the raw text');
  }
  // A cause's text is logged, never sent.
  const { log, lines } = capture();
  const { message } = reportError(modelLoadFailed('model m version 1 does not load', new Error('/secret/path/x.onnx: bad')), log, 'r2');
  t.is(message, 'model m version 1 does not load (request id r2: see the server log)');
  t.true(lines().includes('/secret/path/x.onnx'));
  // An answer relayed from another server (a sidecar's upstream) is cleaned too.
  const relayed = errorAnswer(new GrpcCallError(grpc.status.INTERNAL, ORT_MESSAGES[1] as string, new grpc.Metadata()), 'r3', undefined);
  for (const leak of LEAKS) t.notRegex(relayed.body.message, leak);
});

test('a broken ONNX file and a model onnxruntime cannot run: the REST and gRPC answers carry no runtime text or path', async (t) => {
  const m = ModelProto.decode(demoModel());
  const w = m.graph!.initializer[0]!;
  // An initializer whose bytes are 2 short: onnxruntime's endian_utils.cc refuses it.
  w.rawData = Buffer.alloc((w.rawData?.length ?? 0) > 0 ? (w.rawData?.length ?? 0) - 2 : 38);
  w.floatData = [];
  const upload = async (name: string, bytes: Uint8Array): Promise<Answer> =>
    send(
      registryHttp,
      'POST',
      '/v1/registry/versions:upload',
      `${JSON.stringify({ metadata: { modelName: name } })}\n${JSON.stringify({ chunk: Buffer.from(bytes).toString('base64') })}\n`,
    );
  t.is((await upload('truncated', ModelProto.encode(m).finish())).status, 200);
  t.is((await upload('reshape', reshapeMismatchModel())).status, 200);
  for (const name of ['truncated', 'reshape']) {
    const r = await send(
      registryHttp,
      'POST',
      `/v1/registry/models/${name}/versions/1:transition`,
      JSON.stringify({ stage: 'STAGE_PRODUCTION' }),
    );
    t.true(r.status >= 400, r.text);
    const message = messageOf(r);
    t.regex(message, /onnxruntime/, 'still says what failed');
    for (const leak of LEAKS) t.notRegex(message, leak, message);
    t.regex(message, /\(request id [0-9a-f-]+: see the server log\)$/);
  }
});

// ---- The property: any body up to maxHttpBodyBytes is answered in time proportional to its size ----

const ROUTES: ReadonlyArray<readonly [string, string]> = [
  ['POST', '/predict'],
  ['POST', '/predict/batch'],
  ['POST', '/v1/models/production-model:predict'],
  ['POST', '/v1/models/production-model:batchPredict'],
  ['POST', '/v1/predict:stream'],
  ['POST', '/v2/models/production-model/infer'],
];

/** How long one JSON.parse of `body` takes here and now, ms. */
function parseMs(body: string): number {
  const started = performance.now();
  try {
    JSON.parse(body);
  } catch {
    // Not JSON (a cut-short body): the time to find out is the unit.
  }
  return performance.now() - started;
}

/** An adversarial JSON value of about `bytes` bytes. */
function hostile(kind: string, bytes: number): string {
  switch (kind) {
    case 'numbers':
      return `[${new Array(Math.max(1, Math.floor(bytes / 2))).fill(1).join(',')}]`;
    case 'objects':
      return `[${new Array(Math.max(1, Math.floor(bytes / 3))).fill('{}').join(',')}]`;
    case 'deep': {
      const d = Math.max(1, Math.floor(bytes / 2));
      return '['.repeat(d) + ']'.repeat(d);
    }
    case 'keys': {
      const n = Math.max(1, Math.floor(bytes / 12));
      return `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(',')}}`;
    }
    default:
      return JSON.stringify('s'.repeat(Math.max(0, bytes - 2)));
  }
}

/** Where the hostile value goes in the body. */
function place(where: string, value: string): string {
  switch (where) {
    case 'requests':
      return `{"requests":${value}}`;
    case 'features':
      return `{"features":${value}}`;
    case 'model':
      return `{"model_name":${value}}`;
    case 'inputs':
      return `{"inputs":${value}}`;
    case 'data':
      return `{"inputs":[{"name":"features","shape":[1,10],"datatype":"FP32","data":${value}}]}`;
    case 'shape':
      return `{"inputs":[{"name":"features","shape":${value},"datatype":"FP32","data":[1]}]}`;
    default:
      return value;
  }
}

test.serial(
  'any body up to maxHttpBodyBytes: a 4xx (never a 5xx) within time proportional to its size, with small event-loop lag',
  async (t) => {
    const limit = 1 << 20;
    const small = await startServer({
      models: [`production-model=${writeModel(dir, 'demo3.onnx', demoModel())}`],
      maxHttpBodyBytes: limit,
    });
    const lag = monitorEventLoopDelay({ resolution: 10 });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...ROUTES),
          fc.constantFrom('numbers', 'objects', 'deep', 'keys', 'string'),
          fc.constantFrom('requests', 'features', 'model', 'inputs', 'data', 'shape', 'top'),
          fc.integer({ min: 1000, max: limit - 200 }),
          async ([method, path], kind, where, bytes) => {
            const body = place(where, hostile(kind, bytes));
            // The unit of "proportional to its size", measured on this machine as it is loaded
            // now (before and after the request): one JSON.parse of the same body. The old
            // code spent over 100 of them on such bodies (an error object per item).
            const parse = parseMs(body);
            lag.reset();
            lag.enable();
            const r = await send(small.http, method, path, body);
            lag.disable();
            const unit = Math.max(parse, parseMs(body));
            const boundMs = 1500 + body.length / 1000 + 20 * unit; // 1.5 s, plus 1 ms per KB, plus 20 parses
            const lagBoundMs = 1000 + 10 * unit;
            const what = `${method} ${path} ${kind}@${where} ${body.length} B (one parse ${unit.toFixed(0)} ms)`;
            t.true(r.status < 500, `${what}: ${r.status} ${r.text.slice(0, 200)}`);
            t.true(r.ms < boundMs, `${what}: ${r.ms.toFixed(0)} ms`);
            t.true(lag.max / 1e6 < lagBoundMs, `${what}: lag ${(lag.max / 1e6).toFixed(0)} ms`);
            t.true(r.text.length < 4096, `${method} ${path} ${kind}@${where}: a ${r.text.length}-byte answer`);
          },
        ),
        { numRuns: 40 },
      );
      t.is((await send(small.http, 'GET', '/health')).status, 200);
    } finally {
      await small.close();
    }
  },
);

test('scanJson: one pass, counts named arrays to their end, refuses cut-short bodies over a limit', (t) => {
  const limits = { maxDepth: 8, maxObjects: 100, arrays: { requests: { max: 3, noun: 'instances' }, 'a.b': { max: 2, noun: 'items' } } };
  t.notThrows(() => scanJson('{"requests":[1,2,3],"x":[1,2,3,4,5]}', limits));
  t.throws(() => scanJson('{"requests":[1,2,3,4]}', limits), { message: 'requests: 4 instances is over the limit of 3 per request' });
  t.throws(() => scanJson('{"requests":[1,2,3,4,5', limits), { message: 'requests: 5 instances is over the limit of 3 per request' });
  t.throws(() => scanJson('{"a":[{"b":[1,2]},{"b":[1,2,3]}]}', limits), { message: 'a[1].b: 3 items is over the limit of 2 per request' });
  t.notThrows(() => scanJson('{"s":"[[[[[[[[[[{{{{{{{{{,,,,,\\"requests"}', limits));
  t.throws(() => scanJson(`[${'{},'.repeat(200)}{}]`, limits), {
    message: 'request body: more than 100 JSON objects in one request; split it',
  });
  t.throws(() => parseBody('[[[[[[[[[[]]]]]]]]]]', 8), {
    message: 'request body: JSON nested deeper than 8 levels; flatten it (maxJsonDepth)',
  });
});
