/**
 * REST fuzzing of every gateway route (issue 7, "bad input, everywhere"): the routes come from
 * the running gateway's own /openapi.json; bodies are generated from its schemas with hostile
 * values grafted in anywhere (huge and out-of-range numbers, wrong types, NUL and path-like
 * strings, deep nesting), or are arbitrary JSON, invalid JSON, or not JSON at all; methods,
 * content types, query parameters and path parameters (`..`, `%00`, very long names) vary.
 * Property: every answer is 2xx, or a 4xx with a JSON body whose message names the problem;
 * never a 5xx; the server stays up and its memory stays bounded.
 *
 * Requests go out through node:http (not fetch), so a path keeps its `..` segments and
 * percent-escapes exactly as written.
 */
import * as http from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import test from 'ava';
import fc from 'fast-check';

import { configureFuzz } from './helpers/fuzz.js';
import { BLUEPRINT_ROW, demoModel, tmp, typedModel, writeModel } from './helpers/fixtures.js';
import { type Running, startServer } from './helpers/server.js';

configureFuzz();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const BODY_LIMIT = 64 * 1024;
const MAX_DEPTH = 32;

const dir = tmp();
let srv: Running;
let port: number;
// A fresh connection per request: a reused keep-alive socket can race the server closing it after an error answer.
const agent = new http.Agent({ keepAlive: false });

interface Answer {
  readonly status: number;
  readonly text: string;
  readonly contentType: string;
}

function send(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Node frames a DELETE or OPTIONS body only when told its length (else the bytes would look like a second request).
    const framed = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: framed, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          text: Buffer.concat(chunks).toString('utf8'),
          contentType: String(res.headers['content-type'] ?? ''),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---- The routes, from the gateway's OpenAPI document ----

type Schema = Record<string, unknown>;
interface Operation {
  readonly method: string;
  readonly template: string;
  readonly pathParams: readonly string[];
  /** The request body's schema and media type, when the route takes one. */
  readonly body?: { readonly schema: Schema; readonly ndjson: boolean };
}

let operations: Operation[] = [];
let schemas: Record<string, Schema> = {};

// ---- Hostile values: raw JSON tokens, spliced into the body text after stringifying ----

const RAW = '\u0001raw:';
const raw = (token: string): string => `${RAW}${token}`;
/** JSON.stringify, then the raw tokens unquoted into place (numbers JSON.stringify cannot write). */
function toJsonText(v: unknown): string {
  return JSON.stringify(v).replace(/"\\u0001raw:((?:[^"\\]|\\.)*)"/g, (_m, t: string) => JSON.parse(`"${t}"`) as string);
}

const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    raw('1e400'),
    raw('-1e400'),
    raw('1e-400'),
    raw('-0'),
    raw('123456789012345678901234567890'),
    1e308,
    -1e308,
    3.5e38,
    2 ** 31,
    2 ** 32,
    2 ** 53 + 2,
    2 ** 64,
    -(2 ** 63),
    -1,
    0.5,
    'NaN',
    'Infinity',
    '-Infinity',
    '99999999999999999999',
    '',
    '\u0000',
    '../../etc/passwd',
    '/etc/passwd',
    '%00',
    'DATA_TYPE_FP32',
    'STAGE_PRODUCTION',
    'FP32',
    'production-model',
    null,
    true,
    false,
    [],
    {},
  ),
  fc.string({ maxLength: 16 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.constant('x'.repeat(5000)),
  fc.integer({ min: 2, max: 40 }).map((d) => JSON.parse('['.repeat(d) + ']'.repeat(d)) as unknown),
);

const anyJson: fc.Arbitrary<unknown> = fc.oneof({ depthSize: 'small' }, hostileScalar, fc.jsonValue({ maxDepth: 3 }));

function deref(s: Schema): Schema {
  const ref = s.$ref;
  if (typeof ref === 'string') return schemas[ref.replace('#/components/schemas/', '')] ?? {};
  return s;
}

/** Values shaped like a schema, with a hostile value (or a wrong type) grafted in at any node. */
function fromSchema(s0: Schema, depth: number): fc.Arbitrary<unknown> {
  const s = deref(s0);
  const shaped = ((): fc.Arbitrary<unknown> => {
    if (Array.isArray(s.enum)) return fc.constantFrom(...(s.enum as unknown[]));
    switch (s.type) {
      case 'number':
        return fc.oneof(fc.double({ min: -10, max: 10, noNaN: true }), ...BLUEPRINT_ROW.map((v) => fc.constant(v)));
      case 'integer':
        return fc.integer({ min: -2, max: 5 });
      case 'boolean':
        return fc.boolean();
      case 'string':
        return s.format === 'byte'
          ? fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u).toString('base64'))
          : fc.string({ maxLength: 10 });
      case 'array':
        return depth <= 0 ? fc.constant([]) : fc.array(fromSchema(s.items as Schema, depth - 1), { maxLength: 4 });
      case 'object': {
        if (depth <= 0) return fc.constant({});
        if (s.additionalProperties !== undefined && s.properties === undefined) {
          const key = fc.oneof(
            fc.constantFrom(...BLUEPRINT_ROW.map((_, i) => `feature_${i}`), 'ids', 'mask', 'scale', 'x'),
            fc.string({ maxLength: 8 }),
          );
          return fc.dictionary(key, fromSchema(s.additionalProperties as Schema, depth - 1), { maxKeys: 10 });
        }
        const props = (s.properties ?? {}) as Record<string, Schema>;
        const entries = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, fromSchema(v, depth - 1)]));
        return fc.record(entries, { requiredKeys: [] });
      }
      default:
        return anyJson;
    }
  })();
  return fc.oneof({ arbitrary: shaped, weight: 8 }, { arbitrary: anyJson, weight: 1 });
}

/** The OIP v2 infer body (the protocol's own JSON, not in the OpenAPI schemas). */
const oipInfer: fc.Arbitrary<unknown> = fc.record(
  {
    id: fc.oneof(fc.string({ maxLength: 6 }), anyJson),
    parameters: fc.oneof(fc.constant({}), anyJson),
    inputs: fc.oneof(
      fc.array(
        fc.record(
          {
            name: fc.oneof(fc.constantFrom('features', 'ids', 'mask', 'scale', ''), anyJson),
            datatype: fc.oneof(fc.constantFrom('FP32', 'FP64', 'INT32', 'INT64', 'BOOL', 'FP16', 'BYTES', 'fp32', ''), anyJson),
            shape: fc.oneof(fc.array(fc.oneof(fc.integer({ min: 0, max: 12 }), hostileScalar), { maxLength: 3 }), anyJson),
            data: fc.oneof(
              fc.array(fc.oneof(fc.double({ noNaN: true }), fc.integer(), fc.boolean()), { maxLength: 30 }),
              fc.array(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { maxLength: 10 }), { maxLength: 3 }),
              anyJson,
            ),
            parameters: fc.oneof(fc.constant({ binary_data_size: 4 }), anyJson),
          },
          { requiredKeys: [] },
        ),
        { maxLength: 3 },
      ),
      anyJson,
    ),
    outputs: fc.oneof(
      fc.array(fc.record({ name: fc.oneof(fc.constantFrom('label', 'probabilities', 'total', 'nope'), anyJson) })),
      anyJson,
    ),
  },
  { requiredKeys: [] },
);

/** Path parameters: the served models, and names meant to break paths and decoders. */
const pathParam: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom('production-model', 'typed', '1'), weight: 6 },
  fc.constantFrom('production', 'nope', 'champion'),
  fc.constantFrom(
    '..',
    '.',
    '%2e%2e',
    '..%2F..%2Fetc%2Fpasswd',
    '%00',
    'a%00b',
    '%2F',
    '%252e',
    '%ZZ',
    '%E0%A4%A',
    '%',
    '%C0%AF',
    '~',
    '*',
  ),
  fc.string({ maxLength: 20 }).map(encodeURIComponent),
  fc.string({ unit: 'grapheme', maxLength: 6 }).map(encodeURIComponent),
  fc.integer({ min: 100, max: 4000 }).map((n) => 'm'.repeat(n)),
  fc.constantFrom('-1', '0', '99999999999999999999', '1e400', '1.5', 'NaN'),
);

const queryString: fc.Arbitrary<string> = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom(
          'model',
          'model_name',
          'modelName',
          'version',
          'model_version',
          'stage',
          'pageSize',
          'page_size',
          'pageToken',
          'archiveExisting',
        ),
        fc.string({ maxLength: 8 }),
      ),
      fc.oneof(
        fc.constantFrom('production-model', 'STAGE_PRODUCTION', 'true', '-1', '1e400', '99999999999999999999', '%00', '..'),
        fc.string({ maxLength: 12 }),
      ),
    ),
    { maxLength: 3 },
  )
  .map((pairs) => (pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`));

const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/x-ndjson',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/grpc',
  '',
);

/** Grpc-Timeout: none, valid and long, or not a timeout at all (a short one may legitimately answer 504). */
const grpcTimeout = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 6 },
  { arbitrary: fc.constantFrom('30S', '1M', '99999999H', 'abc', '-1S', '1.5S', '123456789S', '10', 'S'), weight: 1 },
);

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

function fill(template: string, params: readonly string[]): string {
  let i = 0;
  return template.replace(/\{[^}]+\}/g, () => params[i++] ?? 'x');
}

const FEATURES = Object.fromEntries(BLUEPRINT_ROW.map((v, i) => [`feature_${i}`, v]));
const TYPED_INPUTS = {
  ids: { datatype: 'DATA_TYPE_INT64', shape: [1, 3], int64Data: [1, 2, 3] },
  mask: { datatype: 'DATA_TYPE_BOOL', shape: [1, 3], boolData: [true, false, true] },
  scale: { datatype: 'DATA_TYPE_FP32', shape: [1, 1], fp32Data: [0.5] },
};
const OIP_DEMO = { inputs: [{ name: 'features', datatype: 'FP32', shape: [1, 10], data: BLUEPRINT_ROW }] };
const OIP_TYPED = {
  inputs: [
    { name: 'ids', datatype: 'INT64', shape: [1, 3], data: [1, 2, 3] },
    { name: 'mask', datatype: 'BOOL', shape: [1, 3], data: [true, false, true] },
    { name: 'scale', datatype: 'FP32', shape: [1, 1], data: [0.5] },
  ],
};

/** Valid bodies for the inference routes: mutated at one point, they reach the deepest checks. */
function validBodies(op: Operation): unknown[] {
  const t = op.template;
  if (t === '/predict')
    return [{ features: FEATURES }, { features: FEATURES, model_name: 'production-model', model_version: '1', id: 'a' }];
  if (t === '/predict/batch') return [{ requests: [{ features: FEATURES }, { features: FEATURES }] }];
  if (t === '/v1/models/{model_name}:predict') return [{ features: FEATURES }, { inputs: TYPED_INPUTS }];
  if (t === '/v1/models/{model_name}:batchPredict')
    return [
      { requests: [{ features: FEATURES }, { inputs: TYPED_INPUTS }] },
      { dense: { datatype: 'DATA_TYPE_FP32', shape: [2, 10], fp32Data: [...BLUEPRINT_ROW, ...BLUEPRINT_ROW] } },
    ];
  if (t === '/v1/predict:stream') return [{ request: { modelName: 'production-model', features: FEATURES } }];
  if (t.startsWith('/v2/') && t.endsWith('/infer')) return [OIP_DEMO, OIP_TYPED];
  return [];
}

type Mutation = { kind: 'set'; value: unknown } | { kind: 'delete' } | { kind: 'extra'; key: string; value: unknown };

/** One change at the node `pick` selects (depth-first order, modulo the node count). */
function mutate(value: unknown, pick: number, m: Mutation): unknown {
  const copy = structuredClone(value) as unknown;
  const nodes: Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        nodes.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        nodes.push({ parent: v as Record<string, unknown>, key: k });
        walk(x);
      }
    }
  };
  walk(copy);
  const node = nodes[pick % Math.max(1, nodes.length)];
  if (node === undefined) return copy;
  const parent = node.parent as Record<string | number, unknown>;
  if (m.kind === 'set') parent[node.key] = m.value;
  else if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(node.key as number, 1);
    else delete parent[node.key];
  } else if (!Array.isArray(parent)) parent[m.key] = m.value;
  return copy;
}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('set' as const), value: anyJson }), weight: 6 },
  { arbitrary: fc.constant({ kind: 'delete' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('extra' as const), key: fc.string({ maxLength: 8 }), value: anyJson }), weight: 1 },
);

/** Bodies of every kind: schema-shaped with hostile grafts, or arbitrary, invalid, deep, empty. */
function bodyFor(op: Operation): fc.Arbitrary<string | undefined> {
  const valid = validBodies(op);
  const mutated: fc.Arbitrary<string> =
    valid.length === 0
      ? fc.constant('{}')
      : fc
          .tuple(fc.constantFrom(...valid), fc.nat(), fc.option(mutation, { nil: undefined, freq: 5 }))
          .map(([v, pick, m]) => toJsonText(m === undefined ? v : mutate(v, pick, m)));
  const shaped: fc.Arbitrary<string> =
    op.template.startsWith('/v2/') && op.template.endsWith('/infer')
      ? oipInfer.map(toJsonText)
      : op.body === undefined
        ? anyJson.map(toJsonText)
        : op.body.ndjson
          ? fc.array(fromSchema(op.body.schema, 4), { minLength: 1, maxLength: 3 }).map((lines) => lines.map(toJsonText).join('\n'))
          : fromSchema(op.body.schema, 5).map(toJsonText);
  return fc.oneof(
    { arbitrary: shaped, weight: 6 },
    { arbitrary: mutated, weight: valid.length === 0 ? 1 : 6 },
    { arbitrary: anyJson.map(toJsonText), weight: 2 },
    { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
    {
      arbitrary: fc.constantFrom(
        '',
        ' ',
        '{',
        '{"features": ',
        'null',
        '[]',
        '"\u0000"',
        '{"__proto__": {"polluted": 1}}',
        '{"constructor": {"prototype": {"polluted": 1}}}',
        '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
        '{"features": {"feature_0": 1e400}}',
        `{"a": "${'\\u0000'.repeat(100)}"}`,
      ),
      weight: 2,
    },
    { arbitrary: fc.integer({ min: 1, max: 20_000 }).map((d) => '['.repeat(d) + ']'.repeat(d)), weight: 1 },
    { arbitrary: fc.constant(undefined), weight: 1 },
  );
}

function requestFor(op: Operation): fc.Arbitrary<Sent> {
  return fc
    .record({
      method: fc.oneof({ arbitrary: fc.constant(op.method), weight: 5 }, { arbitrary: fc.constantFrom(...METHODS), weight: 1 }),
      params: fc.array(pathParam, { minLength: op.pathParams.length, maxLength: op.pathParams.length }),
      query: fc.oneof({ arbitrary: fc.constant(''), weight: 3 }, { arbitrary: queryString, weight: 1 }),
      contentType,
      timeout: grpcTimeout,
      metadata: fc.option(fc.stringMatching(/^[\x20-\x7e]{0,20}$/), { nil: undefined }),
      body: bodyFor(op),
    })
    .map(({ method, params, query, contentType: ct, timeout, metadata, body }) => {
      const headers: Record<string, string> = {};
      if (ct !== '') headers['content-type'] = ct;
      if (timeout !== undefined) headers['grpc-timeout'] = timeout;
      if (metadata !== undefined) headers['grpc-metadata-x-fuzz'] = metadata.trim();
      const bodyless = method === 'GET' || method === 'HEAD';
      return { method, path: fill(op.template, params) + query, headers, ...(bodyless || body === undefined ? {} : { body }) };
    });
}

/** The property every answer must have; returns a reason when it does not. */
function check(sent: Sent, a: Answer): string | undefined {
  if (a.status >= 500) {
    // A client-set Grpc-Timeout that runs out is a 504 by grpc-gateway's mapping, not a server fault.
    if (a.status === 504 && sent.headers['grpc-timeout'] !== undefined) return undefined;
    return `status ${a.status}: ${a.text.slice(0, 300)}`;
  }
  if (a.status < 200 || (a.status >= 300 && a.status < 400)) return `unexpected status ${a.status}`;
  if (sent.method === 'HEAD' || a.status < 400) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    return `a ${a.status} without a JSON body: ${JSON.stringify(a.text.slice(0, 200))}`;
  }
  const b = body as Record<string, unknown>;
  const message = typeof b.message === 'string' ? b.message : b.error;
  if (typeof message !== 'string' || message.trim() === '') return `a ${a.status} whose body names no problem: ${a.text.slice(0, 200)}`;
  // Issue 11: one line, with echoed input bounded (a 5000-character value is not repeated whole),
  // and no absolute path of the server's files.
  if (message.includes('\n') || message.length > 1200)
    return `a ${a.status} whose message is not one bounded line (${message.length} characters)`;
  if (/(^|[\s'"(])\/tmp\//.test(message)) return `a ${a.status} whose message names an absolute path: ${message.slice(0, 200)}`;
  return undefined;
}

async function stillServing(t: import('ava').ExecutionContext): Promise<void> {
  const health = await send('GET', '/health', {});
  t.is(health.status, 200, health.text);
  const features = Object.fromEntries(BLUEPRINT_ROW.map((v, i) => [`feature_${i}`, v]));
  const ok = await send('POST', '/predict', { 'content-type': 'application/json' }, JSON.stringify({ features }));
  t.is(ok.status, 200, ok.text);
  t.is((JSON.parse(ok.text) as { prediction: number }).prediction, 1);
}

test.before(async () => {
  srv = await startServer({
    models: [`production-model=${writeModel(dir, 'demo.onnx', demoModel())}`, `typed=${writeModel(dir, 'typed.onnx', typedModel())}`],
    maxHttpBodyBytes: BODY_LIMIT,
    maxJsonDepth: MAX_DEPTH,
    maxRequestRows: 64,
    // One port for every route, the registry's included, so that one fuzzer covers them all.
    registryRestOnHttpPort: true,
  });
  port = Number(new URL(srv.http).port);
  const doc = JSON.parse((await send('GET', '/openapi.json', {})).text) as {
    paths: Record<
      string,
      Record<string, { parameters?: Array<{ name: string; in: string }>; requestBody?: { content: Record<string, { schema: Schema }> } }>
    >;
    components: { schemas: Record<string, Schema> };
  };
  schemas = doc.components.schemas;
  for (const [template, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const media = op.requestBody === undefined ? undefined : Object.entries(op.requestBody.content)[0];
      operations.push({
        method: method.toUpperCase(),
        template,
        pathParams: (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
        ...(media === undefined ? {} : { body: { schema: media[1].schema, ndjson: media[0] === 'application/x-ndjson' } }),
      });
    }
  }
  operations = operations.sort((a, b) => `${a.template} ${a.method}`.localeCompare(`${b.template} ${b.method}`));
});

test.after.always(async () => {
  agent.destroy();
  await srv?.close();
});

test('the OpenAPI document lists every route family the fuzzing covers', (t) => {
  const templates = new Set(operations.map((o) => o.template));
  for (const p of [
    '/health',
    '/model-info',
    '/predict',
    '/predict/batch',
    '/metrics',
    '/stats',
    '/reload-model',
    '/v1/models/{model_name}:predict',
    '/v1/models/{model_name}:batchPredict',
    '/v1/predict:stream',
    '/v1/models/{model_name}/metadata',
    '/v1/models',
    '/v2',
    '/v2/health/live',
    '/v2/health/ready',
    '/v2/models/{model_name}/infer',
    '/v2/models/{model_name}/versions/{model_version}/infer',
    '/v1/registry/models',
    '/v1/registry/versions:upload',
  ]) {
    t.true(templates.has(p), p);
  }
  t.true(operations.length >= 30, `${operations.length} operations`);
});

test('fuzzed requests to every route: 2xx or a 4xx naming the problem, never a 5xx; the server stays up; memory stays bounded', async (t) => {
  // Warm up every route once before taking the memory baseline.
  for (const op of operations)
    await send(
      op.method,
      fill(
        op.template,
        op.pathParams.map(() => 'production-model'),
      ),
      {},
    );
  gc();
  const before = process.memoryUsage();
  let sent = 0;
  const statuses = new Map<string, number>();
  for (const op of operations) {
    await fc.assert(
      fc.asyncProperty(requestFor(op), async (req) => {
        const a = await send(req.method, req.path, req.headers, req.body);
        sent++;
        const key = `${op.method} ${op.template} ${a.status}`;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        const problem = check(req, a);
        if (problem !== undefined) throw new Error(`${req.method} ${req.path.slice(0, 200)} ${JSON.stringify(req.headers)}: ${problem}`);
      }),
      { numRuns: op.template.startsWith('/v1/registry') ? 40 : 100, includeErrorInReport: true },
    );
  }
  await stillServing(t);
  gc();
  const after = process.memoryUsage();
  const heapGrowth = (after.heapUsed - before.heapUsed) / 2 ** 20;
  const rssGrowth = (after.rss - before.rss) / 2 ** 20;
  if (process.env.QUIVER_FUZZ_VERBOSE === '1') t.log([...statuses].map(([k, n]) => `${k}: ${n}`).join('\n'));
  t.log(`${sent} requests over ${operations.length} operations; heapUsed ${heapGrowth.toFixed(1)} MiB, rss ${rssGrowth.toFixed(1)} MiB`);
  t.true(heapGrowth < 50, `heapUsed grew ${heapGrowth.toFixed(1)} MiB`);
  t.true(rssGrowth < 300, `rss grew ${rssGrowth.toFixed(1)} MiB`);
});
