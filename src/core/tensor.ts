/** Element types and host tensors: the one tensor shape the core, the workers and the transports share. */

export type DType = 'float32' | 'float64' | 'int32' | 'int64' | 'bool';

export type TypedData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A dense row-major tensor in host memory. `bool` is stored one byte per element. */
export interface HostTensor {
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly data: TypedData;
}

export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  int32: 4,
  int64: 8,
  bool: 1,
};

/** ONNX TensorProto.DataType numbers for the types Quiver serves. */
export const ONNX_ELEM_TYPE: Readonly<Record<DType, number>> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

const ONNX_TO_DTYPE = new Map<number, DType>(Object.entries(ONNX_ELEM_TYPE).map(([k, v]) => [v, k as DType]));

export function dtypeFromOnnx(elemType: number): DType | undefined {
  return ONNX_TO_DTYPE.get(elemType);
}

export function allocate(dtype: DType, length: number): TypedData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'bool':
      return new Uint8Array(length);
  }
}

/** A typed view over little-endian bytes; copies when the bytes are not aligned for the type. */
export function fromBytes(dtype: DType, bytes: Uint8Array): TypedData {
  const size = BYTES_PER_ELEMENT[dtype];
  const length = bytes.byteLength / size;
  const aligned = bytes.byteOffset % size === 0;
  // A real copy: on a Buffer, slice() is a view over the same memory (and offset), not a copy.
  const buffer = aligned ? bytes.buffer : Uint8Array.prototype.slice.call(bytes).buffer;
  const offset = aligned ? bytes.byteOffset : 0;
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer, offset, length);
    case 'float64':
      return new Float64Array(buffer, offset, length);
    case 'int32':
      return new Int32Array(buffer, offset, length);
    case 'int64':
      return new BigInt64Array(buffer, offset, length);
    case 'bool':
      return new Uint8Array(buffer, offset, length);
  }
}

/**
 * BOOL elements as onnxruntime needs them: one byte each, 0 or 1. Bytes from the wire may hold
 * any value; every non-zero byte is true (a copy is made only when some byte is over 1).
 */
export function normaliseBool(data: Uint8Array): Uint8Array {
  for (let i = 0; i < data.length; i++) {
    if ((data[i] as number) > 1) return Uint8Array.from(data, (v) => (v === 0 ? 0 : 1));
  }
  return data;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Rows [start, end) of a tensor's first dimension, as a view (no copy) over its data. */
export function sliceRows(t: HostTensor, start: number, end: number): HostTensor {
  const rows = t.dims[0] ?? 1;
  const perRow = rows === 0 ? 0 : t.data.length / rows;
  const data = t.data.subarray(start * perRow, end * perRow) as TypedData;
  return { dtype: t.dtype, dims: [end - start, ...t.dims.slice(1)], data };
}

/**
 * Concatenates tensors along the first dimension into one freshly allocated tensor (even a
 * single part is copied: the result's buffer is owned outright and may be transferred).
 */
export function concatRows(parts: readonly HostTensor[]): HostTensor {
  const first = parts[0];
  if (first === undefined) throw new Error('concatRows: no tensors');
  let length = 0;
  let rows = 0;
  for (const p of parts) {
    length += p.data.length;
    rows += p.dims[0] ?? 1;
  }
  const data = allocate(first.dtype, length);
  let offset = 0;
  for (const p of parts) {
    (data as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { dtype: first.dtype, dims: [rows, ...first.dims.slice(1)], data };
}

/** A key equal for tensors lists whose dimensions after the first (batch) one agree. */
export function trailingShapeKey(tensors: readonly HostTensor[]): string {
  return tensors.map((t) => t.dims.slice(1).join('x')).join('|');
}

/** A copy that owns its data (the original may be handed to a worker, which detaches it). */
export function copyTensor(t: HostTensor): HostTensor {
  return { dtype: t.dtype, dims: [...t.dims], data: t.data.slice() } as HostTensor;
}
