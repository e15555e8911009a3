/**
 * JSON request bodies: a nesting-depth check before parsing (a 100k-deep body must not cost a
 * stack or a heap), then strict proto3 JSON checking against the request message type, so a
 * wrong type is a 400 naming the field instead of a silently coerced value. Hand-written:
 * protobufjs' and ts-proto's fromObject/fromJSON coerce instead of rejecting, and protojson
 * (what grpc-gateway uses) is Go.
 */
import type protobuf from 'protobufjs';

import { invalidArgument } from '../src/core/errors.js';

/** Rejects JSON nested deeper than `max` arrays/objects, scanning the text once. */
export function checkDepth(text: string, max: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) throw invalidArgument(`request body: JSON nested deeper than ${max} levels`);
    } else if (c === 125 || c === 93) depth--;
  }
}

export function parseBody(text: string, maxDepth: number): unknown {
  if (text.trim() === '') throw invalidArgument('request body: empty; expected a JSON object');
  checkDepth(text, maxDepth);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidArgument(`request body: not valid JSON (${(err as Error).message})`);
  }
}

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

function checkValue(field: protobuf.Field, v: unknown, where: string): void {
  const resolved = field.resolvedType;
  if (resolved === null) return checkScalar(field.type, v, where);
  if ('values' in resolved) {
    // An enum: its value name, or its number.
    const values = (resolved as protobuf.Enum).values;
    if (typeof v === 'string' && Object.hasOwn(values, v)) return;
    if (typeof v === 'number' && Number.isInteger(v)) return;
    throw invalidArgument(
      `${where}: expected one of ${Object.keys(values).join(', ')}, got ${typeof v === 'string' ? JSON.stringify(v) : kind(v)}`,
    );
  }
  checkMessage(resolved as protobuf.Type, v, where);
}

/** Checks a value against a message type's proto3 JSON form; throws INVALID_ARGUMENT naming the field. */
export function checkMessage(type: protobuf.Type, value: unknown, where = ''): void {
  if (value === null) return;
  if (type.fullName === '.google.protobuf.Timestamp') {
    if (typeof value !== 'string' || Number.isNaN(Date.parse(value)))
      throw invalidArgument(`${where}: expected an RFC 3339 timestamp, got ${kind(value)}`);
    return;
  }
  if (typeof value !== 'object' || Array.isArray(value))
    throw invalidArgument(`${where || 'request body'}: expected a JSON object, got ${kind(value)}`);
  const seenOneofs = new Map<string, string>();
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    // Own fields only: `constructor`, `__proto__` or `toString` must not find Object.prototype's members.
    const field =
      (Object.hasOwn(type.fields, key) ? type.fields[key] : undefined) ??
      type.fieldsArray.find((f) => f.name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) === key);
    const at = where === '' ? key : `${where}.${key}`;
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
      for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
        // proto3 JSON has no null map values or list items (only google.protobuf.Value does).
        if (item === null) throw invalidArgument(`${at}.${k}: expected a value, got null (a map value cannot be null)`);
        checkValue(field, item, `${at}.${k}`);
      }
    } else if (field.repeated) {
      if (!Array.isArray(v)) throw invalidArgument(`${at}: expected an array, got ${kind(v)}`);
      v.forEach((item: unknown, i: number) => {
        if (item === null) throw invalidArgument(`${at}[${i}]: expected a value, got null (a list item cannot be null)`);
        checkValue(field, item, `${at}[${i}]`);
      });
    } else {
      checkValue(field, v, at);
    }
  }
}
