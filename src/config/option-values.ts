/**
 * One option's value as it came in (a config file's JSON, or the text of an environment
 * variable or flag) turned into its kind's type and checked against its bounds. Every message
 * names the option and where the value came from.
 */
import { resolve } from 'node:path';

import { invalidConfig } from '../core/errors.js';
import { isModelName, MODEL_NAME_PATTERN } from '../core/model-name.js';
import type { ModelSpec, OptionDef } from './option-schema.js';

/** A value as it came in, with where it came from, for error messages. */
export interface RawValue {
  readonly value: unknown;
  readonly source: string;
  /** The directory relative paths in this value are resolved against. */
  readonly base: string;
}

export function parseModelSpec(text: string, where: string): ModelSpec {
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) {
    throw invalidConfig(`${where}: model '${text}' must be name=path.onnx or name:version=path.onnx`);
  }
  const left = text.slice(0, eq).trim();
  const path = text.slice(eq + 1).trim();
  const colon = left.indexOf(':');
  const name = colon < 0 ? left : left.slice(0, colon);
  const versionText = colon < 0 ? '1' : left.slice(colon + 1);
  if (!isModelName(name)) {
    throw invalidConfig(`${where}: model name '${name}' must match ${MODEL_NAME_PATTERN.source}`);
  }
  if (!/^[1-9][0-9]{0,8}$/.test(versionText)) {
    throw invalidConfig(`${where}: model version '${versionText}' must be a positive integer`);
  }
  return { name, version: Number(versionText), path };
}

/**
 * A path option made absolute, so that nothing downstream (a child process with another
 * working directory, a log line, a later chdir) depends on where the command ran. Flags,
 * the environment and defaults resolve against the command's working directory; a config
 * file's values against the file's own directory. Empty means "not set" and stays empty.
 */
export function absolute(base: string, path: string): string {
  return path === '' ? '' : resolve(base, path);
}

/** The value of `def` from `raw`, of the option's kind; throws naming the option and the source. */
export function coerce(def: OptionDef, raw: RawValue): unknown {
  const { value } = raw;
  const where = `option ${def.key} (${raw.source})`;
  switch (def.kind) {
    case 'string': {
      if (typeof value !== 'string') throw invalidConfig(`${where} must be a string, got ${JSON.stringify(value)}`);
      return value;
    }
    case 'path': {
      if (typeof value !== 'string') throw invalidConfig(`${where} must be a path (a string), got ${JSON.stringify(value)}`);
      return absolute(raw.base, value);
    }
    case 'bool':
      return coerceBool(value, where);
    case 'port':
    case 'int':
      return coerceInt(def, value, where);
    case 'number':
      return coerceNumber(def, value, where);
    case 'enum': {
      if (typeof value !== 'string' || !def.values?.includes(value)) {
        throw invalidConfig(`${where} must be one of ${def.values?.join(', ')}, got ${JSON.stringify(value)}`);
      }
      return value;
    }
    case 'models':
      return coerceModels(raw, where);
  }
}

function coerceBool(value: unknown, where: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|1|yes|on)$/i.test(value)) return true;
  if (typeof value === 'string' && /^(false|0|no|off)$/i.test(value)) return false;
  throw invalidConfig(`${where} must be a boolean (true/false), got ${JSON.stringify(value)}`);
}

/** `int` within the option's bounds; `port` within 0..65535. */
function coerceInt(def: OptionDef, value: unknown, where: string): number {
  const min = def.kind === 'port' ? 0 : (def.min ?? 0);
  const max = def.kind === 'port' ? 65535 : (def.max ?? Number.MAX_SAFE_INTEGER);
  const n = typeof value === 'string' && /^-?[0-9]+$/.test(value.trim()) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    const unit = def.unit ? ` ${def.unit}` : '';
    throw invalidConfig(`${where} must be an integer from ${min} to ${max}${unit}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function coerceNumber(def: OptionDef, value: unknown, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  const min = def.min ?? -Infinity;
  const max = def.max ?? Infinity;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < min || n > max) {
    throw invalidConfig(`${where} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A comma-separated string (environment, flag) or a list of `name=path` strings or `{name, version, path}` objects (config file). */
function coerceModels(raw: RawValue, where: string): ModelSpec[] {
  const { value } = raw;
  const items = typeof value === 'string' ? value.split(',').filter((s) => s.trim() !== '') : value;
  if (!Array.isArray(items)) throw invalidConfig(`${where} must be a list of name=path.onnx, got ${JSON.stringify(value)}`);
  const withBase = (spec: ModelSpec): ModelSpec => ({ ...spec, path: absolute(raw.base, spec.path) });
  return items.map((item: unknown) => {
    if (typeof item === 'string') return withBase(parseModelSpec(item, where));
    if (item !== null && typeof item === 'object') {
      const o = item as Record<string, unknown>;
      const version = o.version === undefined ? '' : `:${String(o.version)}`;
      return withBase(parseModelSpec(`${String(o.name)}${version}=${String(o.path)}`, where));
    }
    throw invalidConfig(`${where}: each model must be name=path.onnx, got ${JSON.stringify(item)}`);
  });
}
