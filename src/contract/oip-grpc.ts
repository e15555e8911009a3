/**
 * The OIP gRPC messages (inference.*) <-> the transport-neutral protocol types: typed
 * `contents` or `raw_input_contents` to host tensors, with every count checked before use,
 * and outputs back as typed contents or raw_output_contents.
 */
import { invalidArgument } from '../core/errors.js';
import { BYTES_PER_ELEMENT, type DType, fromBytes, type HostTensor, type TypedData } from '../core/tensor.js';
import type {
  InferParameter,
  InferTensorContents,
  ModelInferRequest,
  ModelInferResponse,
  ModelInferResponse_InferOutputTensor,
  ModelMetadataResponse,
} from '../gen/inference/grpc_predict_v2.js';
import type { InferRequest, InferResponse, ModelMetadata } from '../handlers/oip.js';
import { countMismatch, dtypeOf, elementsOf, inputField, type NamedTensor, oipDatatype } from './oip-tensors.js';

type ContentsField = keyof InferTensorContents;

const CONTENTS_FIELDS: readonly ContentsField[] = [
  'boolContents',
  'intContents',
  'int64Contents',
  'uintContents',
  'uint64Contents',
  'fp32Contents',
  'fp64Contents',
  'bytesContents',
];

const FIELD_FOR: Readonly<Record<DType, ContentsField>> = {
  bool: 'boolContents',
  int32: 'intContents',
  int64: 'int64Contents',
  float32: 'fp32Contents',
  float64: 'fp64Contents',
};

const SNAKE: Readonly<Record<ContentsField, string>> = {
  boolContents: 'bool_contents',
  intContents: 'int_contents',
  int64Contents: 'int64_contents',
  uintContents: 'uint_contents',
  uint64Contents: 'uint64_contents',
  fp32Contents: 'fp32_contents',
  fp64Contents: 'fp64_contents',
  bytesContents: 'bytes_contents',
};

export function hasContents(c: InferTensorContents | undefined): boolean {
  return c !== undefined && CONTENTS_FIELDS.some((f) => c[f].length > 0);
}

/** BOOL arrives one byte per element; anything other than 0 is true (normalised to 1 for onnxruntime). */
function normaliseBool(data: Uint8Array): Uint8Array {
  for (let i = 0; i < data.length; i++) {
    if ((data[i] as number) > 1) return Uint8Array.from(data, (v) => (v === 0 ? 0 : 1));
  }
  return data;
}

function fromContents(dtype: DType, c: InferTensorContents | undefined): TypedData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(c?.fp32Contents ?? []);
    case 'float64':
      return Float64Array.from(c?.fp64Contents ?? []);
    case 'int32':
      return Int32Array.from(c?.intContents ?? []);
    case 'int64':
      return BigInt64Array.from(c?.int64Contents ?? [], (v) => BigInt(v));
    case 'bool':
      return Uint8Array.from(c?.boolContents ?? [], (v) => (v ? 1 : 0));
  }
}

/**
 * One tensor from its wire form: `raw` when the message uses raw contents (its entry for
 * this tensor), else the typed `contents`. `field` names the tensor, `rawField` its raw entry.
 */
export function tensorFromWire(
  t: { readonly datatype: string; readonly shape: readonly number[]; readonly contents: InferTensorContents | undefined },
  raw: Buffer | undefined,
  field: string,
  rawField: string,
): HostTensor {
  const dtype = dtypeOf(t.datatype, field);
  const count = elementsOf(t.shape, field);
  const dims = [...t.shape];
  if (raw !== undefined) {
    if (hasContents(t.contents)) {
      throw invalidArgument(`${field}.contents: must be empty when raw contents are used; give each tensor's elements in one form only`);
    }
    const needed = count * BYTES_PER_ELEMENT[dtype];
    if (raw.length !== needed) throw countMismatch(rawField, raw.length, 'bytes', dims, t.datatype, needed);
    const data = fromBytes(dtype, raw);
    return { dtype, dims, data: dtype === 'bool' ? normaliseBool(data as Uint8Array) : data };
  }
  const own = FIELD_FOR[dtype];
  const c = t.contents;
  if (c !== undefined) {
    for (const other of CONTENTS_FIELDS) {
      if (other !== own && c[other].length > 0) {
        throw invalidArgument(`${field}.contents.${SNAKE[other]}: given for a ${t.datatype} tensor; use ${SNAKE[own]} or raw contents`);
      }
    }
  }
  const given = c?.[own].length ?? 0;
  if (given !== count) throw countMismatch(`${field}.contents.${SNAKE[own]}`, given, 'elements', dims, t.datatype, count);
  return { dtype, dims, data: fromContents(dtype, c) };
}

const boolParam = (p: InferParameter | undefined): boolean | undefined => p?.boolParam;

export interface DecodedInfer {
  readonly request: InferRequest;
  /** Whether the response carries raw_output_contents. */
  readonly rawOutputs: boolean;
}

/**
 * A ModelInferRequest as the protocol's request. Outputs come back raw when the inputs
 * came raw (what Triton's clients send and read), when an output asks for `binary_data`,
 * or as the request's `binary_data_output` parameter says (which wins).
 */
export function inferRequestFromGrpc(req: ModelInferRequest): DecodedInfer {
  const raw = req.rawInputContents.length > 0;
  if (raw && req.rawInputContents.length !== req.inputs.length) {
    throw invalidArgument(
      `raw_input_contents: ${req.rawInputContents.length} entries, but the request has ${req.inputs.length} inputs; give one per input, in the order of inputs`,
    );
  }
  const inputs: NamedTensor[] = req.inputs.map((t, i) => {
    const field = inputField(i, t.name);
    const tensor = tensorFromWire(t, raw ? req.rawInputContents[i] : undefined, field, `raw_input_contents[${i}] (input '${t.name}')`);
    return { name: t.name, tensor };
  });
  const requested = req.outputs.length === 0 ? undefined : req.outputs.map((o) => o.name);
  const explicit = boolParam(req.parameters.get('binary_data_output'));
  const rawOutputs = explicit ?? (raw || req.outputs.some((o) => boolParam(o.parameters.get('binary_data')) === true));
  return {
    request: { modelName: req.modelName, modelVersion: req.modelVersion, id: req.id, inputs, outputs: requested },
    rawOutputs,
  };
}

function emptyContents(): InferTensorContents {
  return {
    boolContents: [],
    intContents: [],
    int64Contents: [],
    uintContents: [],
    uint64Contents: [],
    fp32Contents: [],
    fp64Contents: [],
    bytesContents: [],
  };
}

function contentsOf(t: HostTensor): InferTensorContents {
  const c = emptyContents();
  switch (t.dtype) {
    case 'float32':
      c.fp32Contents = Array.from(t.data as Float32Array);
      break;
    case 'float64':
      c.fp64Contents = Array.from(t.data as Float64Array);
      break;
    case 'int32':
      c.intContents = Array.from(t.data as Int32Array);
      break;
    case 'int64':
      // Exact for |v| < 2^53 (labels, indices, counts); raw outputs carry every value exactly.
      c.int64Contents = Array.from(t.data as BigInt64Array, (v) => Number(v));
      break;
    case 'bool':
      c.boolContents = Array.from(t.data as Uint8Array, (v) => v !== 0);
      break;
  }
  return c;
}

export const rawBytes = (t: HostTensor): Buffer => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

export function inferResponseToGrpc(res: InferResponse, raw: boolean): ModelInferResponse {
  const outputs: ModelInferResponse_InferOutputTensor[] = res.outputs.map(({ name, tensor }) => ({
    name,
    datatype: oipDatatype(tensor.dtype),
    shape: [...tensor.dims],
    parameters: new Map(),
    contents: raw ? undefined : contentsOf(tensor),
  }));
  return {
    modelName: res.modelName,
    modelVersion: res.modelVersion,
    id: res.id,
    parameters: new Map(),
    outputs,
    rawOutputContents: raw ? res.outputs.map(({ tensor }) => rawBytes(tensor)) : [],
  };
}

/** A ModelInferResponse back to the protocol's response (the upstream client's side). */
export function inferResponseFromGrpc(res: ModelInferResponse): InferResponse {
  const raw = res.rawOutputContents.length > 0;
  if (raw && res.rawOutputContents.length !== res.outputs.length) {
    throw invalidArgument(`raw_output_contents: ${res.rawOutputContents.length} entries for ${res.outputs.length} outputs`);
  }
  const outputs = res.outputs.map((t, i) => ({
    name: t.name,
    tensor: tensorFromWire(t, raw ? res.rawOutputContents[i] : undefined, `outputs[${i}] ('${t.name}')`, `raw_output_contents[${i}]`),
  }));
  return { modelName: res.modelName, modelVersion: res.modelVersion, id: res.id, outputs };
}

/** The protocol's request as a ModelInferRequest with raw inputs (exact for every datatype). */
export function inferRequestToGrpc(req: InferRequest): ModelInferRequest {
  return {
    modelName: req.modelName,
    modelVersion: req.modelVersion,
    id: req.id,
    parameters: new Map(),
    inputs: req.inputs.map(({ name, tensor }) => ({
      name,
      datatype: oipDatatype(tensor.dtype),
      shape: [...tensor.dims],
      parameters: new Map(),
      contents: undefined,
    })),
    outputs: (req.outputs ?? []).map((name) => ({ name, parameters: new Map() })),
    rawInputContents: req.inputs.map(({ tensor }) => rawBytes(tensor)),
  };
}

export function modelMetadataToGrpc(m: ModelMetadata): ModelMetadataResponse {
  return {
    name: m.name,
    versions: [...m.versions],
    platform: m.platform,
    inputs: m.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
    outputs: m.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: [...t.shape] })),
  };
}
