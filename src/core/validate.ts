/**
 * Request validation against a model version's serving signature, before anything is
 * queued. Every error is INVALID_ARGUMENT and names the field and what was expected.
 */
import { echo, invalidArgument } from './errors.js';
import type { ServingSignature, TensorSpec } from './signature.js';
import type { HostTensor } from './tensor.js';

/** One instance as the transports hand it over. */
export type InstanceInput =
  | {
      readonly kind: 'features';
      readonly features: ReadonlyMap<string, number>;
      /** Feature names that appeared more than once on the wire. */
      readonly duplicates?: readonly string[];
    }
  | { readonly kind: 'tensors'; readonly inputs: ReadonlyMap<string, HostTensor> }
  | { readonly kind: 'empty' }
  /** The transport could not even convert it; validation reports this error for the item. */
  | { readonly kind: 'invalid'; readonly error: Error };

export interface ValidationLimits {
  readonly rejectNonFinite: boolean;
  readonly maxRequestRows: number;
}

export interface ModelInputs {
  /** In the signature's input order. */
  readonly tensors: readonly HostTensor[];
  readonly rows: number;
}

const DTYPE_NAME: Record<string, string> = {
  float32: 'FP32',
  float64: 'FP64',
  int32: 'INT32',
  int64: 'INT64',
  bool: 'BOOL',
};

export const wireDtypeName = (dtype: string): string => DTYPE_NAME[dtype] ?? dtype;

function listNames(names: readonly string[], max = 12): string {
  const shown = names.slice(0, max).join(', ');
  return names.length > max ? `${shown}, ... (${names.length} in all)` : shown;
}

/** A shape as messages show it (at most 8 dimensions, then the count): a client's shape may have 500k. */
export function shapeText(dims: readonly number[] | null): string {
  if (dims === null) return '[any]';
  const shown = dims.length > 8 ? dims.slice(0, 8) : dims;
  const text = shown.map((d) => (d < 0 ? '-1' : String(d))).join(', ');
  return dims.length > 8 ? `[${text}, ... (${dims.length} in all)]` : `[${text}]`;
}

/** Bounds a JSON text is scanned against before it is parsed. */
export interface JsonScanLimits {
  /** The deepest nesting of arrays and objects. */
  readonly maxDepth: number;
  /** The most objects in the whole text (each costs an allocation when parsed). */
  readonly maxObjects?: number;
  /**
   * The most items of the arrays at these paths: keys joined with '.', array indices left
   * out (`requests`, `inputs.shape`); `noun` names the items in the message.
   */
  readonly arrays?: Readonly<Record<string, { readonly max: number; readonly noun: string }>>;
}

interface Open {
  readonly array: boolean;
  readonly path: string;
  /** The key this container is under (in an object) or its index (in an array). */
  readonly at: string | number;
  /** Items (arrays: commas so far; objects: unused). */
  commas: number;
  expectKey: boolean;
  readonly limit: { readonly max: number; readonly noun: string } | undefined;
}

function whereOf(stack: readonly Open[], what: string): string {
  let where = '';
  for (let i = 1; i < stack.length; i++) {
    const at = (stack[i] as Open).at;
    where += typeof at === 'number' ? `[${at}]` : where === '' ? echo(at) : `.${echo(at)}`;
  }
  return where === '' ? what : where;
}

/**
 * One linear pass over JSON text before it is parsed, with no allocation per item: its depth,
 * its object count and the item counts of the arrays `limits.arrays` names are checked, so a
 * 2M-deep `data`, 1.3M `{}` or a 2M-item `requests` costs a scan of its bytes, not a parse.
 * An over-long array is counted to its end (for the message) without being parsed. Only
 * counts are checked here: the parse that follows finds malformed JSON. INVALID_ARGUMENT.
 */
export function scanJson(text: string, limits: JsonScanLimits, what = 'request body'): void {
  const { maxDepth } = limits;
  const maxObjects = limits.maxObjects ?? Infinity;
  const arrays = limits.arrays;
  const stack: Open[] = [{ array: false, path: '', at: '', commas: 0, expectKey: false, limit: undefined }];
  let objects = 0;
  let keyStart = 0;
  let keyEnd = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = stack[stack.length - 1] as Open;
    if (c === 34 /* " */) {
      const start = i + 1;
      for (i = start; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 92 /* \ */) i++;
        else if (d === 34) break;
      }
      if (!top.array && top.expectKey) {
        keyStart = start;
        keyEnd = Math.min(i, start + 256);
      }
    } else if (c === 58 /* : */) {
      top.expectKey = false;
    } else if (c === 44 /* , */) {
      if (top.array) top.commas++;
      else top.expectKey = true;
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (stack.length > maxDepth) {
        throw invalidArgument(`${what}: JSON nested deeper than ${maxDepth} levels; flatten it (maxJsonDepth)`);
      }
      // An array already over its own limit is the clearer message: it is counted to its end.
      if (c === 123 && ++objects > maxObjects && !stack.some((o) => o.limit !== undefined && o.commas >= o.limit.max)) {
        throw invalidArgument(`${what}: more than ${maxObjects} JSON objects in one request; split it`);
      }
      const key = top.array ? '' : text.slice(keyStart, keyEnd);
      const at = top.array ? top.commas : key;
      const path = arrays === undefined ? '' : top.array || stack.length === 1 ? top.path : top.path === '' ? key : `${top.path}.${key}`;
      const limit = c === 91 && arrays !== undefined && Object.hasOwn(arrays, path) ? arrays[path] : undefined;
      stack.push({ array: c === 91, path, at, commas: 0, expectKey: c === 123, limit });
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      if (stack.length === 1) continue;
      if (top.limit !== undefined && top.commas >= top.limit.max) {
        // commas + 1 items (an array with a comma is not empty).
        throw invalidArgument(
          `${whereOf(stack, what)}: ${top.commas + 1} ${top.limit.noun} is over the limit of ${top.limit.max} per request`,
        );
      }
      stack.pop();
    }
  }
  // A body cut short: an open array already over its limit is refused here, not by a parse.
  for (let d = stack.length - 1; d > 0; d--) {
    const open = stack[d] as Open;
    if (open.limit !== undefined && open.commas >= open.limit.max) {
      throw invalidArgument(
        `${whereOf(stack.slice(0, d + 1), what)}: ${open.commas + 1} ${open.limit.noun} is over the limit of ${open.limit.max} per request`,
      );
    }
  }
}

/**
 * Rejects JSON text nested deeper than `max` arrays/objects, scanning it once before it is
 * parsed: a 2M-deep body must cost neither a parse nor a heap. INVALID_ARGUMENT.
 */
export function checkJsonDepth(text: string, max: number, what = 'request body'): void {
  scanJson(text, { maxDepth: max }, what);
}

function checkFinite(t: HostTensor, field: string): void {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') return;
  const data = t.data as Float32Array | Float64Array;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw invalidArgument(`${field}: element ${i} is ${String(data[i])}; only finite numbers are accepted`);
    }
  }
}

function featureVector(
  sig: ServingSignature,
  input: Extract<InstanceInput, { kind: 'features' }>,
  field: string,
  limits: ValidationLimits,
): ModelInputs {
  const names = sig.featureNames;
  const spec = sig.inputs[0] as TensorSpec;
  if (names === null) {
    throw invalidArgument(
      `${field}: this model does not take a feature map; send 'inputs' with tensors ${sig.inputs.map((i) => `${i.name} ${wireDtypeName(i.dtype)} ${shapeText(i.dims)}`).join(', ')}`,
    );
  }
  if (input.duplicates !== undefined && input.duplicates.length > 0) {
    throw invalidArgument(`${field}: feature '${echo(input.duplicates[0] as string)}' is given more than once`);
  }
  const f = input.features;
  const width = names.length;
  const data = spec.dtype === 'float64' ? new Float64Array(width) : new Float32Array(width);
  let missing: string[] | undefined;
  for (let i = 0; i < width; i++) {
    const name = names[i] as string;
    const v = f.get(name);
    if (v === undefined) {
      (missing ??= []).push(name);
      continue;
    }
    if (limits.rejectNonFinite && !Number.isFinite(v)) {
      throw invalidArgument(`${field}.${name}: ${String(v)} is not allowed; expected a finite number`);
    }
    data[i] = v;
    // A finite double can still overflow the model's FP32 input (|v| > 3.4e38 becomes Infinity).
    if (limits.rejectNonFinite && !Number.isFinite(data[i])) {
      throw invalidArgument(
        `${field}.${name}: ${String(v)} is out of range for the model's ${wireDtypeName(spec.dtype)} input; expected a finite number within +-3.4e38`,
      );
    }
  }
  if (f.size !== width - (missing?.length ?? 0)) {
    const unknown = [...f.keys()].filter((k) => !names.includes(k));
    throw invalidArgument(
      `${field}: unknown feature${unknown.length > 1 ? 's' : ''} ${listNames(unknown.map((u) => `'${echo(u)}'`))}; expected ${listNames(names)}`,
    );
  }
  if (missing !== undefined) {
    throw invalidArgument(
      `${field}: missing feature${missing.length > 1 ? 's' : ''} ${listNames(missing)} (the model takes ${width} features: ${listNames(names)})`,
    );
  }
  return { tensors: [{ dtype: spec.dtype, dims: [1, width], data }], rows: 1 };
}

function tensorInputs(
  sig: ServingSignature,
  input: Extract<InstanceInput, { kind: 'tensors' }>,
  field: string,
  limits: ValidationLimits,
): ModelInputs {
  for (const name of input.inputs.keys()) {
    if (!sig.inputs.some((s) => s.name === name)) {
      throw invalidArgument(`${field}: unknown input '${echo(name)}'; the model's inputs are ${listNames(sig.inputs.map((s) => s.name))}`);
    }
  }
  let rows = -1;
  const tensors = sig.inputs.map((spec) => {
    const t = input.inputs.get(spec.name);
    const where = `${field}.${spec.name}`;
    if (t === undefined) {
      throw invalidArgument(`${field}: missing input '${spec.name}' (${wireDtypeName(spec.dtype)} ${shapeText(spec.dims)})`);
    }
    if (t.dtype !== spec.dtype) {
      throw invalidArgument(`${where}: datatype ${wireDtypeName(t.dtype)} does not match the model's ${wireDtypeName(spec.dtype)}`);
    }
    if (spec.dims !== null) {
      const ok = t.dims.length === spec.dims.length && spec.dims.every((d, i) => d < 0 || d === t.dims[i]);
      if (!ok) throw invalidArgument(`${where}: shape ${shapeText(t.dims)} does not match the model's ${shapeText(spec.dims)}`);
    }
    if (sig.batchable) {
      const r = t.dims[0] as number;
      if (rows >= 0 && r !== rows) {
        throw invalidArgument(`${where}: ${r} rows, but other inputs have ${rows}; every input needs the same first dimension`);
      }
      rows = r;
    }
    if (limits.rejectNonFinite) checkFinite(t, where);
    return t;
  });
  if (!sig.batchable) rows = 1;
  if (rows === 0) throw invalidArgument(`${field}: the inputs have zero rows; send at least one`);
  if (rows > limits.maxRequestRows) {
    throw invalidArgument(`${field}: ${rows} rows is over the limit of ${limits.maxRequestRows} per request`);
  }
  return { tensors, rows };
}

/** Validates one instance and returns the model's input tensors for it. */
export function toModelInputs(sig: ServingSignature, input: InstanceInput, field: string, limits: ValidationLimits): ModelInputs {
  switch (input.kind) {
    case 'features':
      return featureVector(sig, input, `${field}features`, limits);
    case 'tensors':
      return tensorInputs(sig, input, `${field}inputs`, limits);
    case 'invalid':
      throw input.error;
    case 'empty':
      throw invalidArgument(
        sig.featureNames === null
          ? `${field}inputs: required (${sig.inputs.map((i) => `${i.name} ${wireDtypeName(i.dtype)} ${shapeText(i.dims)}`).join(', ')})`
          : `${field}features: required (${listNames(sig.featureNames)})`,
      );
  }
}

/** Validates the dense [N, F] FP32 batch form. */
export function denseInputs(sig: ServingSignature, dense: HostTensor, limits: ValidationLimits): ModelInputs {
  const names = sig.featureNames;
  const spec = sig.inputs[0] as TensorSpec;
  if (names === null) {
    throw invalidArgument(`dense: this model does not take one [N, F] feature matrix; send 'requests' with 'inputs'`);
  }
  if (dense.dtype !== 'float32') {
    throw invalidArgument(`dense.datatype: ${wireDtypeName(dense.dtype)} is not accepted; the dense form is FP32`);
  }
  if (dense.dims.length !== 2 || dense.dims[1] !== names.length) {
    throw invalidArgument(`dense.shape: ${shapeText(dense.dims)} does not match [N, ${names.length}]`);
  }
  const rows = dense.dims[0] as number;
  if (rows === 0) throw invalidArgument('dense: empty batch; send at least one row');
  if (!sig.batchable && rows !== 1) {
    throw invalidArgument(
      `dense: this model takes exactly one row per inference ([1, ${names.length}]); send ${rows} single-row requests instead`,
    );
  }
  if (rows > limits.maxRequestRows) {
    throw invalidArgument(`dense: ${rows} rows is over the limit of ${limits.maxRequestRows} per request`);
  }
  if (limits.rejectNonFinite) checkFinite(dense, 'dense');
  const tensor: HostTensor =
    spec.dtype === 'float64' ? { dtype: 'float64', dims: dense.dims, data: Float64Array.from(dense.data as Float32Array) } : dense;
  return { tensors: [tensor], rows };
}
