/**
 * The Open Inference Protocol's REST form (`/v2/...`), framework-neutral: the gateway hands
 * over the method, the path and the raw body text, and gets back a status, a JSON body and
 * headers. The `/infer` body is the protocol's own JSON (not proto-JSON), parsed here; errors
 * are `{"error": "..."}` with the HTTP status of the error's code (src/core/errors.ts's table);
 * an error's cause is logged with the request id, which the message then names.
 */
import type { Logger } from 'pino';

import type { CallContext } from '../src/core/context.js';
import { reportError } from '../src/core/error-report.js';
import { clientText, echo, invalidArgument } from '../src/core/errors.js';
import { scanJson } from '../src/core/validate.js';
import { requestIdOf } from '../src/core/request-id.js';
import { InferenceCore } from '../src/core/inference.js';
import { oipHandlers, type InferRequest, type InferResponse, type OipHandlers } from '../src/handlers/oip.js';
import { UpstreamError } from './oip-upstream.js';
import {
  countMismatch,
  dtypeOf,
  elementsOf,
  flattenData,
  inputField,
  jsonFromTyped,
  type NamedTensor,
  oipDatatype,
  typedFromJson,
} from '../src/contract/oip-tensors.js';

export interface OipRestResult {
  readonly status: number;
  /** A JSON-serialisable value; send it with `content-type: application/json`. */
  readonly body: unknown;
  /** Extra response headers (lower-case names): `allow` on 405, `retry-after` on 429. */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface OipRestOptions {
  /** Where errors' causes (and unexpected errors) are logged, with the request id. */
  readonly log?: Logger;
  /** The request's id, for the log and the error message (default: a new one). */
  readonly requestId?: string;
  /** The deepest JSON nesting an `/infer` body may have (the maxJsonDepth option; default 64). */
  readonly maxJsonDepth?: number;
}

/** maxJsonDepth's default (src/config/options.ts). */
export const DEFAULT_MAX_JSON_DEPTH = 64;

/** The most input or output tensors one `/infer` request may name (a model has a handful). */
export const MAX_TENSORS = 1024;

/** The most dimensions one tensor's shape may have (onnxruntime's tensors have far fewer). */
export const MAX_RANK = 64;

export type OipOperation = 'ServerLive' | 'ServerReady' | 'ModelReady' | 'ServerMetadata' | 'ModelMetadata' | 'ModelInfer';

export interface OipRestRoute {
  readonly method: 'GET' | 'POST';
  /** OpenAPI-style template. */
  readonly path: string;
  readonly operation: OipOperation;
  readonly summary: string;
}

/** Every route served, for the gateway's router and its OpenAPI document. */
export const OIP_REST_ROUTES: readonly OipRestRoute[] = [
  { method: 'GET', path: '/v2/health/live', operation: 'ServerLive', summary: 'Whether the server is live: 200 {"live": true}' },
  {
    method: 'GET',
    path: '/v2/health/ready',
    operation: 'ServerReady',
    summary: 'Whether the server is ready: 200 {"ready": true}, else 503 {"ready": false}',
  },
  {
    method: 'GET',
    path: '/v2/models/{model_name}/ready',
    operation: 'ModelReady',
    summary: "Whether the model's default version is ready: 200 {name, ready: true}, 503 when not serving, 404 when unknown",
  },
  {
    method: 'GET',
    path: '/v2/models/{model_name}/versions/{model_version}/ready',
    operation: 'ModelReady',
    summary: 'Whether one version (number or alias) is ready',
  },
  { method: 'GET', path: '/v2', operation: 'ServerMetadata', summary: 'Server name, version and extensions' },
  {
    method: 'GET',
    path: '/v2/models/{model_name}',
    operation: 'ModelMetadata',
    summary: "The default version's metadata: versions, platform, inputs and outputs",
  },
  {
    method: 'GET',
    path: '/v2/models/{model_name}/versions/{model_version}',
    operation: 'ModelMetadata',
    summary: "One version's metadata",
  },
  {
    method: 'POST',
    path: '/v2/models/{model_name}/infer',
    operation: 'ModelInfer',
    summary: 'Inference on the default version: {id?, parameters?, inputs: [{name, shape, datatype, data}], outputs?}',
  },
  {
    method: 'POST',
    path: '/v2/models/{model_name}/versions/{model_version}/infer',
    operation: 'ModelInfer',
    summary: 'Inference on one version (number or alias)',
  },
];

interface Matched {
  readonly operation: OipOperation;
  readonly method: 'GET' | 'POST';
  readonly model: string;
  readonly version: string;
}

/** The OIP route a path names (whatever the method), or null when the path is not OIP's. */
function matchPath(segments: readonly string[]): Matched | null {
  const at = (operation: OipOperation, model = '', version = ''): Matched => ({
    operation,
    method: operation === 'ModelInfer' ? 'POST' : 'GET',
    model,
    version,
  });
  const [v2, a, b, c, d, e, ...rest] = segments;
  if (v2 !== 'v2' || rest.length > 0 || segments.some((s) => s === '')) return null;
  if (a === undefined) return at('ServerMetadata');
  if (a === 'health' && c === undefined) {
    if (b === 'live') return at('ServerLive');
    if (b === 'ready') return at('ServerReady');
    return null;
  }
  if (a !== 'models' || b === undefined) return null;
  if (c === undefined) return at('ModelMetadata', b);
  if (d === undefined) {
    if (c === 'ready') return at('ModelReady', b);
    if (c === 'infer') return at('ModelInfer', b);
    return null;
  }
  if (c !== 'versions') return null;
  if (e === undefined) return at('ModelMetadata', b, d);
  if (e === 'ready') return at('ModelReady', b, d);
  if (e === 'infer') return at('ModelInfer', b, d);
  return null;
}

const json = (status: number, body: unknown, headers?: Record<string, string>): OipRestResult =>
  headers === undefined ? { status, body } : { status, body, headers };

/** Any thrown value as the protocol's error object, with its HTTP status. */
export function oipRestError(err: unknown, log?: Logger, requestId: string = requestIdOf(undefined)): OipRestResult {
  // An upstream server's answer (sidecar): reported there already, its status from its code.
  if (err instanceof UpstreamError) return json(err.httpStatus, { error: clientText(err.message) });
  const { error, message } = reportError(err, log, requestId, { component: 'oip-rest' });
  const pushback = error.metadata['grpc-retry-pushback-ms'];
  const headers =
    error.httpStatus === 429 && pushback !== undefined
      ? { 'retry-after': String(Math.max(1, Math.ceil(Number(pushback) / 1000))) }
      : undefined;
  return json(error.httpStatus, { error: message }, headers);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalObject(v: unknown, field: string): void {
  if (v !== undefined && !isObject(v)) throw invalidArgument(`${field}: must be a JSON object of name/value pairs`);
}

function parseInput(raw: unknown, index: number): NamedTensor {
  if (!isObject(raw)) throw invalidArgument(`inputs[${index}]: must be a JSON object {name, shape, datatype, data}`);
  const name = raw.name;
  if (typeof name !== 'string' || name === '') throw invalidArgument(`inputs[${index}].name: required, a non-empty string`);
  const field = inputField(index, name);
  if (typeof raw.datatype !== 'string') throw invalidArgument(`${field}.datatype: required, a string such as FP32`);
  const dtype = dtypeOf(raw.datatype, field);
  if (!Array.isArray(raw.shape)) throw invalidArgument(`${field}.shape: required, an array of dimensions`);
  if (raw.shape.length > MAX_RANK) {
    throw invalidArgument(`${field}.shape: ${raw.shape.length} dimensions is over the limit of ${MAX_RANK}`);
  }
  const count = elementsOf(raw.shape, field);
  optionalObject(raw.parameters, `${field}.parameters`);
  if (raw.data === undefined && isObject(raw.parameters) && raw.parameters.binary_data_size !== undefined) {
    throw invalidArgument(`${field}: binary tensor data (binary_data_size) is not supported; send the elements in "data"`);
  }
  const shape = raw.shape as number[];
  // The element count against the declared shape before any copy: flat data by its length,
  // nested data level by level (flattenData stops at the first level that cannot fit).
  const values = flattenData(raw.data, field, shape, raw.datatype);
  if (values.length !== count) throw countMismatch(`${field}.data`, values.length, 'elements', shape, raw.datatype, count);
  return { name, tensor: { dtype, dims: [...shape], data: typedFromJson(dtype, values, field) } };
}

/** The `/infer` body as the protocol's request; every error is INVALID_ARGUMENT naming the field. */
export function parseInferBody(
  bodyText: string | undefined,
  modelName: string,
  modelVersion: string,
  maxJsonDepth: number = DEFAULT_MAX_JSON_DEPTH,
): InferRequest {
  if (bodyText === undefined || bodyText.trim() === '') {
    throw invalidArgument('request body: required, a JSON inference request {"inputs": [{"name", "shape", "datatype", "data"}, ...]}');
  }
  // Before parsing: a 2M-deep `data`, a 500k-dimension shape or 1M inputs must cost one
  // scan of the text, not a parse and a heap.
  scanJson(bodyText, {
    maxDepth: maxJsonDepth,
    // A tensor is an object, with parameters another: a request has a few per tensor.
    maxObjects: 8 * MAX_TENSORS,
    arrays: {
      inputs: { max: MAX_TENSORS, noun: 'tensors' },
      outputs: { max: MAX_TENSORS, noun: 'names' },
      'inputs.shape': { max: MAX_RANK, noun: 'dimensions' },
    },
  });
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch (err) {
    throw invalidArgument(`request body: not valid JSON (${echo((err as Error).message, 120)})`);
  }
  if (!isObject(body)) throw invalidArgument('request body: must be a JSON object {"inputs": [...]}');
  if (body.id !== undefined && typeof body.id !== 'string') throw invalidArgument('id: must be a string');
  optionalObject(body.parameters, 'parameters');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) {
    throw invalidArgument('inputs: required, a non-empty array of {name, shape, datatype, data}');
  }
  if (body.inputs.length > MAX_TENSORS) {
    throw invalidArgument(`inputs: ${body.inputs.length} tensors is over the limit of ${MAX_TENSORS} per request`);
  }
  const inputs = body.inputs.map(parseInput);
  let outputs: string[] | undefined;
  if (body.outputs !== undefined) {
    if (!Array.isArray(body.outputs)) throw invalidArgument('outputs: must be an array of {name}');
    if (body.outputs.length > MAX_TENSORS) {
      throw invalidArgument(`outputs: ${body.outputs.length} names is over the limit of ${MAX_TENSORS} per request`);
    }
    outputs = body.outputs.map((o: unknown, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw invalidArgument(`outputs[${i}].name: required, a string`);
      optionalObject(o.parameters, `outputs[${i}].parameters`);
      return o.name;
    });
    // An empty list asks for nothing in particular: every output, as when it is absent.
    if (outputs.length === 0) outputs = undefined;
  }
  return { modelName, modelVersion, id: body.id ?? '', inputs, outputs };
}

/** The protocol's JSON inference response. */
export function inferResponseJson(res: InferResponse): Record<string, unknown> {
  return {
    model_name: res.modelName,
    model_version: res.modelVersion,
    ...(res.id === '' ? {} : { id: res.id }),
    outputs: res.outputs.map(({ name, tensor }) => ({
      name,
      datatype: oipDatatype(tensor.dtype),
      shape: [...tensor.dims],
      data: jsonFromTyped(tensor),
    })),
  };
}

async function run(
  oip: OipHandlers,
  m: Matched,
  bodyText: string | undefined,
  ctx: CallContext,
  maxJsonDepth: number,
): Promise<OipRestResult> {
  switch (m.operation) {
    case 'ServerLive': {
      const live = await oip.serverLive(ctx);
      return json(live ? 200 : 503, { live });
    }
    case 'ServerReady': {
      const ready = await oip.serverReady(ctx);
      return json(ready ? 200 : 503, { ready });
    }
    case 'ModelReady': {
      const ready = await oip.modelReady(m.model, m.version, ctx);
      return json(ready ? 200 : 503, { name: m.model, ready });
    }
    case 'ServerMetadata':
      return json(200, await oip.serverMetadata(ctx));
    case 'ModelMetadata':
      return json(200, await oip.modelMetadata(m.model, m.version, ctx));
    case 'ModelInfer':
      return json(200, inferResponseJson(await oip.modelInfer(parseInferBody(bodyText, m.model, m.version, maxJsonDepth), ctx)));
  }
}

/**
 * Serves one REST request if its path is an OIP route: `null` when it is not (route it
 * elsewhere), 405 with `allow` for a known path with the wrong method, else the answer.
 * Never throws: every failure is a `{"error"}` result.
 *
 * @param backend `oipHandlers(core, {serving})` in-process, `upstreamOipHandlers(client)` as a
 *   sidecar; a bare InferenceCore is served as oipHandlers(core) (always ready).
 * @param pathname the URL path without the query string, still percent-encoded.
 * @param bodyText the request body as text (after the gateway's size and depth limits);
 *   only `/infer` reads it.
 * @param ctx the request's deadline and cancellation (cancel it when the client goes away).
 */
export async function handleOipRest(
  backend: OipHandlers | InferenceCore,
  method: string,
  pathname: string,
  bodyText: string | undefined,
  ctx: CallContext,
  options: OipRestOptions = {},
): Promise<OipRestResult | null> {
  const q = pathname.indexOf('?');
  const path = q < 0 ? pathname : pathname.slice(0, q);
  if (path !== '/v2' && !path.startsWith('/v2/')) return null;
  let segments: string[];
  try {
    segments = path.slice(1).split('/').map(decodeURIComponent);
  } catch {
    return json(400, { error: `path: '${echo(path)}' is not validly percent-encoded` });
  }
  const m = matchPath(segments);
  if (m === null) return null;
  const verb = method.toUpperCase();
  const allowed = m.method === 'GET' ? ['GET', 'HEAD'] : ['POST'];
  if (!allowed.includes(verb)) {
    return json(405, { error: `method ${echo(verb)} is not allowed on ${echo(path)}; use ${m.method}` }, { allow: allowed.join(', ') });
  }
  const oip = backend instanceof InferenceCore ? oipHandlers(backend) : backend;
  try {
    return await run(oip, m, bodyText, ctx, options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH);
  } catch (err) {
    return oipRestError(err, options.log, options.requestId);
  }
}
