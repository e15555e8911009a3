/**
 * JSON request bodies: a nesting-depth check before parsing (a 100k-deep body must not cost a
 * stack or a heap), then strict proto3 JSON checking against the request message type, so a
 * wrong type is a 400 naming the field instead of a silently coerced value. Hand-written:
 * protobufjs' and ts-proto's fromObject/fromJSON coerce instead of rejecting, and protojson
 * (what grpc-gateway uses) is Go.
 */
import type protobuf from 'protobufjs';

import { echo, invalidArgument } from '../src/core/errors.js';
import { checkJsonDepth, type JsonScanLimits, scanJson } from '../src/core/validate.js';

/** Rejects JSON nested deeper than `max` arrays/objects, scanning the text once. */
export const checkDepth = (text: string, max: number, what = 'request body'): void => checkJsonDepth(text, max, what);

/**
 * What every REST body is scanned for before it is parsed, whatever its route: a safety net
 * under the exact, configured limits each route checks after (`requests` against
 * maxRequestRows, maps against their entry limit). The net is what keeps a 4 MiB body from
 * costing seconds of parsing: 1.3M `{}` or a 2M-item `requests` is refused by one scan.
 */
export const SCAN_NET = { maxObjects: 1 << 18, requests: 1 << 16 } as const;

/** The scan limits for a body: depth, the object net, and `requests` (the batch forms) capped. */
export function scanLimits(maxDepth: number, maxRequests: number = SCAN_NET.requests): JsonScanLimits {
  return {
    maxDepth,
    maxObjects: Math.max(SCAN_NET.maxObjects, 4 * maxRequests),
    arrays: { requests: { max: maxRequests, noun: 'instances' } },
  };
}

/** The default scan limits per depth, made once (a request's parse must not allocate them). */
const defaultLimits = new Map<number, JsonScanLimits>();

export function parseBody(text: string, maxDepth: number, what = 'request body', limits?: JsonScanLimits): unknown {
  if (!/\S/.test(text)) throw invalidArgument(`${what}: empty; expected a JSON object`);
  let scan = limits ?? defaultLimits.get(maxDepth);
  if (scan === undefined) defaultLimits.set(maxDepth, (scan = scanLimits(maxDepth)));
  scanJson(text, scan, what);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidArgument(`${what}: not valid JSON (${echo((err as Error).message, 120)})`);
  }
}

/**
 * Counts checked before any per-item work (the check, the conversion, the encoding): a 4 MiB
 * body of 1.3M `{}` must be refused at once, not after building 1.3M messages. The defaults
 * are the gRPC server's decode limits (src/grpc/codec.ts), which would refuse them later.
 */
export interface JsonLimits {
  /** Items in one repeated message field (BatchPredictRequest.requests: maxRequestRows). */
  readonly maxRepeatedMessages: number;
  /** Entries in one map field (features, inputs, labels). */
  readonly maxMapEntries: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = { maxRepeatedMessages: 8192, maxMapEntries: 65536 };

const INT32 = new Set(['int32', 'sint32', 'sfixed32', 'uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function checkScalar(type: string, v: unknown, where: string): void {
  if (type === 'double' || type === 'float') {
    let n: number;
    if (typeof v === 'number') n = v;
    else if (typeof v === 'string' && (v === 'NaN' || v === 'Infinity' || v === '-Infinity')) return;
    else if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) n = Number(v);
    else throw invalidArgument(`${where}: expected a number, got ${kind(v)}`);
    // A finite double beyond float32's range would round to infinity: the encoder refuses it.
    if (type === 'float' && Number.isFinite(n) && !Number.isFinite(Math.fround(n)))
      throw invalidArgument(`${where}: ${n} is out of range for a 32-bit float`);
    return;
  }
  if (INT32.has(type) || INT64.has(type)) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?[0-9]+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n)) throw invalidArgument(`${where}: expected an integer, got ${typeof v === 'number' ? String(v) : kind(v)}`);
    const unsigned = type.startsWith('u') || type.startsWith('fixed');
    if (unsigned && n < 0) throw invalidArgument(`${where}: expected an unsigned integer, got ${n}`);
    if (INT32.has(type)) {
      if (unsigned ? n > 2 ** 32 - 1 : n > 2 ** 31 - 1 || n < -(2 ** 31)) throw invalidArgument(`${where}: ${n} does not fit in 32 bits`);
    } else if (!Number.isSafeInteger(n)) {
      // JSON numbers are doubles, and the server reads 64-bit fields as exact JS numbers.
      throw invalidArgument(`${where}: ${n} is out of range; 64-bit integers are exact only up to +-(2^53 - 1)`);
    }
    return;
  }
  if (type === 'bool') {
    if (typeof v !== 'boolean') throw invalidArgument(`${where}: expected true or false, got ${kind(v)}`);
    return;
  }
  if (type === 'string') {
    if (typeof v !== 'string') throw invalidArgument(`${where}: expected a string, got ${kind(v)}`);
    return;
  }
  if (type === 'bytes') {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*=*$/.test(v)) throw invalidArgument(`${where}: expected base64 bytes, got ${kind(v)}`);
  }
}

function checkValue(field: protobuf.Field, v: unknown, where: string, limits: JsonLimits): void {
  const resolved = field.resolvedType;
  if (resolved === null) return checkScalar(field.type, v, where);
  if ('values' in resolved) {
    // An enum: its value name, or its number.
    const values = (resolved as protobuf.Enum).values;
    if (typeof v === 'string' && Object.hasOwn(values, v)) return;
    if (typeof v === 'number' && Number.isInteger(v)) return;
    throw invalidArgument(
      `${where}: expected one of ${Object.keys(values).join(', ')}, got ${typeof v === 'string' ? JSON.stringify(echo(v)) : kind(v)}`,
    );
  }
  checkMessage(resolved as protobuf.Type, v, where, limits);
}

function keyCountOver(obj: object, max: number): number | undefined {
  let n = 0;
  for (const _ in obj) if (++n > max) return Object.keys(obj).length;
  return undefined;
}

/** Checks a value against a message type's proto3 JSON form; throws INVALID_ARGUMENT naming the field. */
export function checkMessage(type: protobuf.Type, value: unknown, where = '', limits: JsonLimits = DEFAULT_JSON_LIMITS): void {
  if (value === null) return;
  if (type.fullName === '.google.protobuf.Timestamp') {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
      throw invalidArgument(`${where}: expected an RFC 3339 timestamp, got ${kind(value)}`);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidArgument(`${where || 'request body'}: expected a JSON object, got ${kind(value)}`);
  const seenOneofs = new Map<string, string>();
  // A message has few fields: a body with 100k keys fails on the first unknown one, below.
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    // Own fields only: `constructor`, `__proto__` or `toString` must not find Object.prototype's members.
    const field =
      (Object.hasOwn(type.fields, key) ? type.fields[key] : undefined) ??
      type.fieldsArray.find((f) => f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) === key);
    const at = where === '' ? echo(key) : `${where}.${echo(key)}`;
    if (field === undefined) {
      const known = type.fieldsArray.map((f) => f.name).join(', ');
      throw invalidArgument(`${at}: unknown field${known === '' ? '' : ` (${type.name} has ${known})`}`);
    }
    if (v === null) continue;
    if (field.partOf !== null) {
      const other = seenOneofs.get(field.partOf.name);
      if (other !== undefined) throw invalidArgument(`${at}: only one of ${other} and ${field.name} may be set`);
      seenOneofs.set(field.partOf.name, field.name);
    }
    if (field.map) {
      if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`${at}: expected an object (a map), got ${kind(v)}`);
      const over = keyCountOver(v, limits.maxMapEntries);
      if (over !== undefined) throw invalidArgument(`${at}: ${over} entries is over the limit of ${limits.maxMapEntries} per map`);
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        // proto3 JSON has no null map values or list items (only google.protobuf.Value does).
        if (item === null) throw invalidArgument(`${at}.${echo(k)}: expected a value, got null (a map value cannot be null)`);
        checkValue(field, item, `${at}.${echo(k)}`, limits);
      }
    } else if (field.repeated) {
      if (!Array.isArray(v)) throw invalidArgument(`${at}: expected an array, got ${kind(v)}`);
      if (field.resolvedType !== null && 'fields' in field.resolvedType && v.length > limits.maxRepeatedMessages)
        throw invalidArgument(`${at}: ${v.length} items is over the limit of ${limits.maxRepeatedMessages} per request`);
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (item === null) throw invalidArgument(`${at}[${i}]: expected a value, got null (a list item cannot be null)`);
        checkValue(field, item, `${at}[${i}]`, limits);
      }
    } else {
      checkValue(field, v, at, limits);
    }
  }
}
