/**
 * Open Inference Protocol tensors, transport-neutral: datatype names, shapes, and the REST
 * form's JSON `data` (flat or nested row-major arrays) to and from host tensors. Every
 * error is INVALID_ARGUMENT and names the field.
 */
import { echo, echoList, invalidArgument } from '../core/errors.js';
import type { DType, HostTensor } from '../core/tensor.js';

/** The OIP datatype name of each element type Quiver serves. */
const DATATYPE_OF: Readonly<Record<DType, string>> = {
  bool: 'BOOL',
  int32: 'INT32',
  int64: 'INT64',
  float32: 'FP32',
  float64: 'FP64',
};

const DTYPE_OF = new Map<string, DType>(Object.entries(DATATYPE_OF).map(([k, v]) => [v, k as DType]));

/** What the error messages list as accepted. */
export const SUPPORTED_DATATYPES = 'BOOL, INT32, INT64, FP32, FP64';

/** Every datatype the protocol defines; those Quiver does not serve get a clearer message. */
const PROTOCOL_DATATYPES = new Set([
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'BF16',
  'FP32',
  'FP64',
  'BYTES',
]);

/** The most elements one tensor may declare, whatever its data (guards every allocation). */
export const MAX_ELEMENTS = 2 ** 31 - 1;

export const oipDatatype = (dtype: DType): string => DATATYPE_OF[dtype];

/** A tensor with its name, in the order the request or the response lists them. */
export interface NamedTensor {
  readonly name: string;
  readonly tensor: HostTensor;
}

/** `inputs[2] ('mask')`: where an input is, for messages. */
export const inputField = (index: number, name: string): string =>
  name === '' ? `inputs[${index}]` : `inputs[${index}] ('${echo(name)}')`;

/** The element type for an OIP datatype name; throws INVALID_ARGUMENT naming the field. */
export function dtypeOf(datatype: string, field: string): DType {
  const dtype = DTYPE_OF.get(datatype);
  if (dtype !== undefined) return dtype;
  if (datatype === '') throw invalidArgument(`${field}.datatype: required, one of ${SUPPORTED_DATATYPES}`);
  if (PROTOCOL_DATATYPES.has(datatype)) {
    throw invalidArgument(`${field}.datatype: ${datatype} is not supported by this server; supported: ${SUPPORTED_DATATYPES}`);
  }
  throw invalidArgument(
    `${field}.datatype: '${echo(datatype)}' is not an Open Inference Protocol datatype; supported: ${SUPPORTED_DATATYPES}`,
  );
}

/** Checks a declared shape (integers >= 0, bounded product) and returns its element count. */
export function elementsOf(shape: readonly unknown[], field: string): number {
  let count = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      const shown =
        typeof d === 'string'
          ? JSON.stringify(echo(d))
          : typeof d === 'object' && d !== null
            ? Array.isArray(d)
              ? 'an array'
              : 'an object'
            : String(d);
      throw invalidArgument(`${field}.shape[${i}]: ${shown} is not a valid dimension (need an integer >= 0)`);
    }
    count *= d;
    if (count > MAX_ELEMENTS) throw invalidArgument(`${field}.shape: ${echoList(shape)} declares more than ${MAX_ELEMENTS} elements`);
  }
  return count;
}

/** Elements needed vs given, in the messages' one wording. */
export function countMismatch(
  field: string,
  given: number,
  unit: string,
  shape: readonly number[],
  datatype: string,
  needed: number,
): Error {
  return invalidArgument(`${field}: ${given} ${unit}, but shape ${echoList(shape)} of ${echo(datatype)} needs ${needed}`);
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Flattens REST `data` (a flat array, or arrays nested row-major to any depth) level by
 * level, without recursion; nesting whose sibling arrays differ in length, or that mixes
 * arrays and scalars at one level, is ragged and rejected.
 */
export function flattenData(data: unknown, field: string, shape?: readonly number[], datatype = ''): unknown[] {
  if (!Array.isArray(data)) throw invalidArgument(`${field}.data: required, an array of the tensor's elements (flat or nested row-major)`);
  let level: unknown[] = data;
  for (let depth = 1; level.length > 0 && Array.isArray(level[0]); depth++) {
    if (shape !== undefined && depth > Math.max(shape.length, 1)) {
      throw invalidArgument(
        `${field}.data: nested ${depth} or more levels deep, but shape ${echoList(shape)} has ${shape.length} dimensions`,
      );
    }
    const width = (level[0] as unknown[]).length;
    let total = 0;
    for (let i = 0; i < level.length; i++) {
      const item = level[i];
      if (!Array.isArray(item)) {
        throw invalidArgument(`${field}.data: ragged nested arrays: at depth ${depth}, element ${i} is not an array but its siblings are`);
      }
      if (item.length !== width) {
        throw invalidArgument(
          `${field}.data: ragged nested arrays: at depth ${depth}, element ${i} has ${item.length} items, expected ${width}`,
        );
      }
      total += width;
    }
    if (total > MAX_ELEMENTS) throw invalidArgument(`${field}.data: more than ${MAX_ELEMENTS} elements`);
    if (shape !== undefined) {
      const declared = shape.reduce((a, b) => a * b, 1);
      if (total > declared) throw countMismatch(`${field}.data`, total, 'elements (at least)', shape, datatype, declared);
    }
    const next = new Array<unknown>(total);
    let k = 0;
    for (const item of level as unknown[][]) for (const v of item) next[k++] = v;
    level = next;
  }
  for (let i = 0; i < level.length; i++) {
    if (Array.isArray(level[i])) {
      throw invalidArgument(
        `${field}.data: ragged nested arrays: element ${i} of the innermost level is an array but its siblings are not`,
      );
    }
  }
  return level;
}

function bad(field: string, index: number, value: unknown, expected: string): Error {
  const shown = JSON.stringify(value) ?? String(value);
  return invalidArgument(`${field}.data[${index}]: ${shown.length > 40 ? `${shown.slice(0, 40)}...` : shown} is not ${expected}`);
}

/** Typed elements from flattened JSON values, checked one by one against the datatype. */
export function typedFromJson(dtype: DType, values: readonly unknown[], field: string): HostTensor['data'] {
  const n = values.length;
  switch (dtype) {
    case 'float32':
    case 'float64': {
      const out = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number') throw bad(field, i, v, `a number (${oipDatatype(dtype)})`);
        out[i] = v;
      }
      return out;
    }
    case 'int32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) throw bad(field, i, v, 'an INT32 integer');
        out[i] = v;
      }
      return out;
    }
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        // JSON numbers are doubles: beyond 2^53 the value the client meant is already lost.
        if (typeof v !== 'number' || !Number.isSafeInteger(v))
          throw bad(field, i, v, 'an INT64 integer (exact JSON integers reach +-2^53)');
        out[i] = BigInt(v);
      }
      return out;
    }
    case 'bool': {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (typeof v !== 'boolean') throw bad(field, i, v, 'true or false (BOOL)');
        out[i] = v ? 1 : 0;
      }
      return out;
    }
  }
}

/** A host tensor's elements as JSON values (flat, row-major). INT64 beyond 2^53 loses precision. */
export function jsonFromTyped(t: HostTensor): number[] | boolean[] {
  switch (t.dtype) {
    case 'bool':
      return Array.from(t.data as Uint8Array, (v) => v !== 0);
    case 'int64':
      return Array.from(t.data as BigInt64Array, (v) => Number(v));
    default:
      return Array.from(t.data as Float32Array);
  }
}
