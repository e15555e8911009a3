/** quiver.v1.Tensor <-> HostTensor, validating shape against data before allocating. */
import { echoList, invalidArgument } from '../core/errors.js';
import { BYTES_PER_ELEMENT, type DType, fromBytes, type HostTensor, normaliseBool } from '../core/tensor.js';
import { wireDtypeName } from '../core/validate.js';
import { DataType, type Tensor } from '../gen/quiver/v1/tensor.js';

const TO_DTYPE = new Map<DataType, DType>([
  [DataType.DATA_TYPE_FP32, 'float32'],
  [DataType.DATA_TYPE_FP64, 'float64'],
  [DataType.DATA_TYPE_INT32, 'int32'],
  [DataType.DATA_TYPE_INT64, 'int64'],
  [DataType.DATA_TYPE_BOOL, 'bool'],
]);

const FROM_DTYPE: Record<DType, DataType> = {
  float32: DataType.DATA_TYPE_FP32,
  float64: DataType.DATA_TYPE_FP64,
  int32: DataType.DATA_TYPE_INT32,
  int64: DataType.DATA_TYPE_INT64,
  bool: DataType.DATA_TYPE_BOOL,
};

export const toWireDataType = (dtype: DType): DataType => FROM_DTYPE[dtype];

/** The most elements one tensor may declare, whatever its data (guards the allocation). */
const MAX_ELEMENTS = 2 ** 31 - 1;

/** The most dimensions one tensor's shape may have (as the REST forms check it). */
const MAX_RANK = 64;

const TYPED_FIELDS = ['fp32Data', 'fp64Data', 'int32Data', 'int64Data', 'boolData'] as const;
const FIELD_FOR: Record<DType, (typeof TYPED_FIELDS)[number]> = {
  float32: 'fp32Data',
  float64: 'fp64Data',
  int32: 'int32Data',
  int64: 'int64Data',
  bool: 'boolData',
};
const SNAKE: Record<string, string> = {
  fp32Data: 'fp32_data',
  fp64Data: 'fp64_data',
  int32Data: 'int32_data',
  int64Data: 'int64_data',
  boolData: 'bool_data',
};

export function tensorToHost(t: Tensor, field: string): HostTensor {
  const dtype = TO_DTYPE.get(t.datatype);
  if (dtype === undefined) {
    throw invalidArgument(`${field}.datatype: required, one of FP32, FP64, INT32, INT64, BOOL (got ${t.datatype})`);
  }
  if (t.shape.length > MAX_RANK) throw invalidArgument(`${field}.shape: ${t.shape.length} dimensions is over the limit of ${MAX_RANK}`);
  let count = 1;
  for (let i = 0; i < t.shape.length; i++) {
    const d = t.shape[i] as number;
    if (!Number.isInteger(d) || d < 0) throw invalidArgument(`${field}.shape[${i}]: ${d} is not a valid dimension (need an integer >= 0)`);
    count *= d;
    if (count > MAX_ELEMENTS) throw invalidArgument(`${field}.shape: more than ${MAX_ELEMENTS} elements`);
  }
  const typedField = FIELD_FOR[dtype];
  for (const other of TYPED_FIELDS) {
    if (other !== typedField && t[other].length > 0) {
      throw invalidArgument(`${field}.${SNAKE[other]}: given for a ${wireDtypeName(dtype)} tensor; use ${SNAKE[typedField]} or raw_data`);
    }
  }
  const typed = t[typedField];
  if (t.rawData.length > 0) {
    if (typed.length > 0) throw invalidArgument(`${field}: give either ${SNAKE[typedField]} or raw_data, not both`);
    const expected = count * BYTES_PER_ELEMENT[dtype];
    if (t.rawData.length !== expected) {
      throw invalidArgument(
        `${field}.raw_data: ${t.rawData.length} bytes, but shape ${echoList(t.shape)} of ${wireDtypeName(dtype)} needs ${expected}`,
      );
    }
    const data = fromBytes(dtype, t.rawData);
    // raw_data BOOL bytes may be anything: non-zero is true, and onnxruntime needs exactly 1.
    return { dtype, dims: t.shape, data: dtype === 'bool' ? normaliseBool(data as Uint8Array) : data };
  }
  if (typed.length !== count) {
    throw invalidArgument(`${field}.${SNAKE[typedField]}: ${typed.length} elements, but shape ${echoList(t.shape)} needs ${count}`);
  }
  switch (dtype) {
    case 'float32':
      return { dtype, dims: t.shape, data: Float32Array.from(t.fp32Data) };
    case 'float64':
      return { dtype, dims: t.shape, data: Float64Array.from(t.fp64Data) };
    case 'int32':
      return { dtype, dims: t.shape, data: Int32Array.from(t.int32Data) };
    case 'int64':
      return { dtype, dims: t.shape, data: BigInt64Array.from(t.int64Data, (v) => BigInt(v)) };
    case 'bool':
      return { dtype, dims: t.shape, data: Uint8Array.from(t.boolData, (v) => (v ? 1 : 0)) };
  }
}

function emptyTensor(dtype: DType, dims: readonly number[]): Tensor {
  return {
    datatype: FROM_DTYPE[dtype],
    shape: [...dims],
    fp32Data: [],
    fp64Data: [],
    int32Data: [],
    int64Data: [],
    boolData: [],
    rawData: Buffer.alloc(0),
  };
}

/** Encodes a host tensor; `raw` packs the elements into raw_data. */
export function hostToTensor(t: HostTensor, raw: boolean): Tensor {
  const out = emptyTensor(t.dtype, t.dims);
  if (raw) {
    out.rawData = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    return out;
  }
  switch (t.dtype) {
    case 'float32':
      out.fp32Data = Array.from(t.data as Float32Array);
      break;
    case 'float64':
      out.fp64Data = Array.from(t.data as Float64Array);
      break;
    case 'int32':
      out.int32Data = Array.from(t.data as Int32Array);
      break;
    case 'int64':
      // Exact for |v| < 2^53, which covers labels, indices and counts.
      out.int64Data = Array.from(t.data as BigInt64Array, (v) => Number(v));
      break;
    case 'bool':
      out.boolData = Array.from(t.data as Uint8Array, (v) => v !== 0);
      break;
  }
  return out;
}

/** True when a Tensor field was left unset (all defaults). */
export function isEmptyTensor(t: Tensor | undefined): boolean {
  return (
    t === undefined ||
    (t.datatype === DataType.DATA_TYPE_UNSPECIFIED &&
      t.shape.length === 0 &&
      t.rawData.length === 0 &&
      TYPED_FIELDS.every((f) => t[f].length === 0))
  );
}
