/**
 * grpc-gateway-style transcoding: an HTTP request that matches an RPC's google.api.http
 * binding becomes that RPC's request message (path variables, then the body as the rule
 * says, then query parameters for the remaining fields), checked against proto3 JSON, sent
 * to the service, and its answer comes back as proto3 JSON (lowerCamelCase names).
 * Streaming RPCs take and give newline-delimited JSON, one message per line.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';

import { echo, invalidArgument } from '../src/core/errors.js';
import { ROUTE_KEY } from '../src/rollouts/router.js';
import type { HttpBinding, RpcDescriptor } from './descriptors.js';
import type { CallOptions, Invoker } from './invoker.js';
import type { JsonScanLimits } from '../src/core/validate.js';
import { checkDepth, checkMessage, DEFAULT_JSON_LIMITS, type JsonLimits, parseBody, scanLimits } from './json.js';
import { codecOf } from './messages.js';
import { compileTemplate, type CompiledTemplate, matchTemplate } from './path-template.js';

export interface Route {
  readonly rpc: RpcDescriptor;
  readonly binding: HttpBinding;
  readonly template: CompiledTemplate;
}

export type RouteMatch = { readonly route: Route; readonly vars: Record<string, string> } | { readonly allowed: string[] } | null;

export class Router {
  readonly routes: Route[];

  constructor(rpcs: readonly RpcDescriptor[]) {
    this.routes = rpcs
      .flatMap((rpc) => rpc.bindings.map((binding) => ({ rpc, binding, template: compileTemplate(binding.path) })))
      .sort((a, b) => b.template.specificity - a.template.specificity);
  }

  /** The route for a method and path; `{allowed}` when only the method is wrong; null when no route has the path. */
  match(method: string, path: string): RouteMatch {
    const allowed: string[] = [];
    for (const route of this.routes) {
      const vars = matchTemplate(route.template, path);
      if (vars === null) continue;
      if (route.binding.method === method) return { route, vars };
      allowed.push(route.binding.method);
    }
    return allowed.length > 0 ? { allowed: [...new Set(allowed)] } : null;
  }
}

function fieldByPath(type: protobuf.Type, path: string): protobuf.Field | undefined {
  let t: protobuf.Type | undefined = type;
  let field: protobuf.Field | undefined;
  for (const part of path.split('.')) {
    // Query parameters may use the proto name or the JSON (lowerCamelCase) name.
    // Own fields only: `constructor` or `__proto__` must not find Object.prototype's members.
    field =
      (t !== undefined && Object.hasOwn(t.fields, part) ? t.fields[part] : undefined) ??
      t?.fieldsArray.find((f) => f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) === part);
    t =
      field?.resolvedType !== null && field?.resolvedType !== undefined && 'fields' in field.resolvedType
        ? (field.resolvedType as protobuf.Type)
        : undefined;
  }
  return field;
}

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    const next = o[p];
    if (next === undefined || next === null || typeof next !== 'object') o[p] = {};
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1] as string] = value;
}

/** Query strings are text: bools and repeated fields need converting before the JSON check. */
function queryValue(field: protobuf.Field | undefined, values: string[]): unknown {
  const one = (v: string): unknown => (field?.type === 'bool' ? (v === 'true' ? true : v === 'false' ? false : v) : v);
  return field?.repeated === true ? values.map(one) : one(values[values.length - 1] as string);
}

const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

const scanCache = new WeakMap<protobuf.Type, Map<string, JsonScanLimits>>();

/**
 * The pre-parse scan limits for a request type's JSON: its repeated message fields (at any
 * path, by proto and JSON name) at most `maxRepeatedMessages` items, so that 1.3M `{}` in
 * BatchPredictRequest.requests is refused by a scan, before a parse builds them.
 */
export function typeScanLimits(type: protobuf.Type, maxDepth: number, limits: JsonLimits): JsonScanLimits {
  const cacheKey = `${maxDepth}/${limits.maxRepeatedMessages}`;
  const cached = scanCache.get(type)?.get(cacheKey);
  if (cached !== undefined) return cached;
  const base = scanLimits(maxDepth, limits.maxRepeatedMessages);
  const arrays: Record<string, { max: number; noun: string }> = { ...base.arrays };
  const visit = (t: protobuf.Type, prefix: string, seen: Set<protobuf.Type>): void => {
    if (seen.has(t) || prefix.split('.').length > 4) return;
    for (const f of t.fieldsArray) {
      const sub = f.resolvedType !== null && 'fields' in f.resolvedType ? (f.resolvedType as protobuf.Type) : undefined;
      for (const name of new Set([f.name, camel(f.name)])) {
        const path = prefix === '' ? name : `${prefix}.${name}`;
        if (f.repeated && !f.map && sub !== undefined) arrays[path] = { max: limits.maxRepeatedMessages, noun: 'items' };
        if (sub !== undefined && !f.map) visit(sub, path, new Set([...seen, t]));
      }
    }
  };
  visit(type, '', new Set());
  const result: JsonScanLimits = { ...base, arrays };
  const perType = scanCache.get(type) ?? new Map<string, JsonScanLimits>();
  perType.set(cacheKey, result);
  scanCache.set(type, perType);
  return result;
}

/** The most query parameters a request may have (a request message has a few dozen fields). */
const MAX_QUERY_PARAMETERS = 1024;

/** Builds the request message's JSON from the HTTP request, following the binding. */
export function requestJson(
  route: Route,
  vars: Record<string, string>,
  query: URLSearchParams,
  body: string | undefined,
  maxDepth: number,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): Record<string, unknown> {
  const { binding, rpc } = route;
  let json: Record<string, unknown> = {};
  // Query keys before anything else: each one costs a field lookup.
  let keys = 0;
  for (const _ of query.keys())
    if (++keys > MAX_QUERY_PARAMETERS) throw invalidArgument(`query: more than ${MAX_QUERY_PARAMETERS} parameters`);
  if (binding.body !== '' && !rpc.requestStream) {
    const scan =
      binding.body === '*' ? typeScanLimits(rpc.requestType, maxDepth, limits) : scanLimits(maxDepth, limits.maxRepeatedMessages);
    const parsed = parseBody(body ?? '', maxDepth, 'request body', scan);
    if (binding.body === '*') {
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
        throw invalidArgument('request body: expected a JSON object');
      json = parsed as Record<string, unknown>;
    } else {
      json[binding.body] = parsed;
    }
  }
  for (const [field, value] of Object.entries(vars)) setPath(json, field, value);
  if (binding.body !== '*') {
    const keys = new Set(query.keys());
    for (const key of keys) {
      const field = fieldByPath(rpc.requestType, key);
      if (field === undefined)
        throw invalidArgument(
          `${echo(key)}: unknown query parameter (${rpc.requestType.name} has ${rpc.requestType.fieldsArray.map((f) => f.name).join(', ')})`,
        );
      setPath(json, key, queryValue(field, query.getAll(key)));
    }
  }
  return json;
}

export function encodeRequest(type: protobuf.Type, json: unknown, where = '', limits: JsonLimits = DEFAULT_JSON_LIMITS): Buffer {
  checkMessage(type, json, where, limits);
  const codec = codecOf(type.fullName);
  return Buffer.from(codec.encode(codec.fromJSON(json)).finish());
}

export function decodeResponse(type: protobuf.Type, bytes: Buffer, responseBody: string): unknown {
  const codec = codecOf(type.fullName);
  const json = codec.toJSON(codec.decode(bytes)) as Record<string, unknown>;
  if (responseBody === '') return json;
  const camel = responseBody.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  return json[camel] ?? null;
}

/** The most messages one NDJSON request body may carry (a client stream over REST). */
export const MAX_STREAM_LINES = 65536;

/** The non-empty lines of an NDJSON body, counted (one linear scan) before any is parsed. */
function ndjsonLines(body: string, max: number): Array<{ line: string; number: number }> {
  let nonEmpty = 0;
  let content = false;
  for (let i = 0; i <= body.length; i++) {
    const c = i < body.length ? body.charCodeAt(i) : 10;
    if (c !== 10) {
      // JSON's whitespace (and a CR of CRLF) does not make a line.
      if (c !== 32 && c !== 9 && c !== 13) content = true;
      continue;
    }
    if (content && ++nonEmpty > max)
      throw invalidArgument(`request body: more than ${max} NDJSON lines (messages); send them in several requests`);
    content = false;
  }
  const lines: Array<{ line: string; number: number }> = [];
  body.split('\n').forEach((line, i) => {
    if (line.trim() !== '') lines.push({ line, number: i + 1 });
  });
  return lines;
}

export interface TranscodeResult {
  /** JSON for unary, NDJSON lines for streams. */
  readonly json?: unknown;
  readonly lines?: string[];
}

/** Runs a matched route end to end. Throws a GrpcCallError or QuiverError on failure. */
export async function transcode(
  invoker: Invoker,
  route: Route,
  vars: Record<string, string>,
  query: URLSearchParams,
  body: string | undefined,
  options: CallOptions,
  maxDepth: number,
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): Promise<TranscodeResult> {
  const { rpc } = route;
  if (!rpc.requestStream && !rpc.responseStream) {
    const request = encodeRequest(rpc.requestType, requestJson(route, vars, query, body, maxDepth, limits), '', limits);
    return { json: decodeResponse(rpc.responseType, await invoker.unary(rpc.grpcPath, request, options), route.binding.responseBody) };
  }
  // Streams: one JSON message per non-empty body line (the path variables apply to each).
  const requests: Buffer[] = [];
  if (rpc.requestStream) {
    // Depth and count first, over the whole body: then each line's parse and check is bounded.
    const text = body ?? '';
    checkDepth(text, maxDepth);
    for (const { line, number } of ndjsonLines(text, MAX_STREAM_LINES)) {
      const item = parseBody(line, maxDepth, `request body line ${number}`, typeScanLimits(rpc.requestType, maxDepth, limits));
      if (item === null || typeof item !== 'object' || Array.isArray(item))
        throw invalidArgument(`request body line ${number}: expected a JSON object`);
      const json = item as Record<string, unknown>;
      for (const [field, value] of Object.entries(vars)) setPath(json, field, value);
      requests.push(encodeRequest(rpc.requestType, json, `line ${number}`, limits));
    }
  } else {
    requests.push(encodeRequest(rpc.requestType, requestJson(route, vars, query, body, maxDepth, limits), '', limits));
  }
  const lines: string[] = [];
  const kind = rpc.requestStream && rpc.responseStream ? 'bidi' : rpc.requestStream ? 'client' : 'server';
  await invoker.stream(rpc.grpcPath, kind, requests, options, (b) => {
    lines.push(
      JSON.stringify(rpc.responseStream ? { result: decodeResponse(rpc.responseType, b, '') } : decodeResponse(rpc.responseType, b, '')),
    );
  });
  return rpc.responseStream ? { lines } : { json: JSON.parse(lines[0] ?? 'null') as unknown };
}

/** gRPC metadata from HTTP headers, grpc-gateway's way: `Grpc-Metadata-*` and Authorization; and X-Quiver-Route-Key as it is. */
export function metadataFromHeaders(headers: Record<string, string | string[] | undefined>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    const key = lower.startsWith('grpc-metadata-')
      ? lower.slice('grpc-metadata-'.length)
      : lower === 'authorization' || lower === ROUTE_KEY
        ? lower
        : undefined;
    if (key === undefined || key.endsWith('-bin')) continue;
    for (const v of Array.isArray(value) ? value : [value]) md.add(key, v);
  }
  return md;
}

const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The `Grpc-Timeout` header (e.g. `500m`, `2S`) as an epoch-ms deadline, or Infinity. */
export function deadlineFromHeader(value: string | string[] | undefined): number {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return Infinity;
  const m = /^([0-9]{1,8})([HMSmun])$/.exec(text.trim());
  if (m === null) throw invalidArgument(`Grpc-Timeout: ${JSON.stringify(text)} is not a timeout like 500m or 2S`);
  return Date.now() + Number(m[1]) * (UNITS[m[2] as string] as number);
}
