/**
 * A small ONNX writer: enough to build the demo model and the test fixtures from TypeScript
 * (no Python, no converters). It encodes ModelProto with the vendored ONNX protos.
 */
import {
  AttributeProto,
  AttributeProto_AttributeType as AttrType,
  ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../gen/onnx/onnx-ml.js';
import { type DType, ONNX_ELEM_TYPE } from '../core/tensor.js';

export type Dim = number | string;

export interface ValueSpec {
  readonly name: string;
  readonly dtype: DType;
  /** Numbers are fixed sizes; strings are symbolic (dynamic) dimensions. */
  readonly dims: readonly Dim[];
}

export interface InitializerSpec {
  readonly name: string;
  readonly dtype: DType;
  readonly dims: readonly number[];
  readonly values: ArrayLike<number | bigint>;
}

export type AttributeValue =
  | { readonly i: number }
  | { readonly f: number }
  | { readonly s: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] }
  | { readonly strings: readonly string[] };

export interface NodeSpec {
  readonly opType: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly domain?: string;
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
}

export interface ModelSpec {
  readonly inputs: readonly ValueSpec[];
  readonly outputs: readonly ValueSpec[];
  readonly initializers?: readonly InitializerSpec[];
  readonly nodes: readonly NodeSpec[];
  /** Default-domain opset; 13 unless given. */
  readonly opset?: number;
  /** The ai.onnx.ml opset, when ML operators are used. */
  readonly mlOpset?: number;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly graphName?: string;
}

const utf8 = new TextEncoder();

function valueInfo(v: ValueSpec): ValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_ELEM_TYPE[v.dtype],
        shape: { dim: v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function le(values: ArrayLike<number | bigint>, dtype: DType): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case 'float32':
      return new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
    case 'float64':
      return new Uint8Array(Float64Array.from(values as ArrayLike<number>).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(values[i] as number | bigint);
      return new Uint8Array(out.buffer);
    }
    case 'bool':
      return Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
  }
}

function tensor(init: InitializerSpec): TensorProto {
  return {
    ...emptyTensor(),
    name: init.name,
    dims: [...init.dims],
    dataType: ONNX_ELEM_TYPE[init.dtype],
    rawData: Buffer.from(le(init.values, init.dtype)),
  };
}

function emptyTensor(): TensorProto {
  return ModelProto.fromPartial({ graph: { initializer: [{}] } }).graph!.initializer[0]!;
}

function attribute(name: string, value: AttributeValue): AttributeProto {
  const base = AttributeProto.fromPartial({ name });
  if ('i' in value) return { ...base, type: AttrType.INT, i: value.i };
  if ('f' in value) return { ...base, type: AttrType.FLOAT, f: value.f };
  if ('s' in value) return { ...base, type: AttrType.STRING, s: Buffer.from(utf8.encode(value.s)) };
  if ('ints' in value) return { ...base, type: AttrType.INTS, ints: [...value.ints] };
  if ('floats' in value) return { ...base, type: AttrType.FLOATS, floats: [...value.floats] };
  return { ...base, type: AttrType.STRINGS, strings: value.strings.map((s) => Buffer.from(utf8.encode(s))) };
}

function node(n: NodeSpec, index: number): Partial<NodeProto> {
  return {
    opType: n.opType,
    name: `${n.opType.toLowerCase()}_${index}`,
    input: [...n.inputs],
    output: [...n.outputs],
    domain: n.domain ?? '',
    attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
  };
}

/** Encodes a model as ONNX bytes (IR version 8). */
export function buildOnnxModel(spec: ModelSpec): Uint8Array {
  const opsetImport = [{ domain: '', version: spec.opset ?? 13 }];
  if (spec.mlOpset !== undefined) opsetImport.push({ domain: 'ai.onnx.ml', version: spec.mlOpset });
  const model = ModelProto.fromPartial({
    irVersion: 8,
    producerName: 'quiver',
    producerVersion: '0.1.0',
    opsetImport,
    graph: {
      name: spec.graphName ?? 'graph',
      node: spec.nodes.map(node),
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map(tensor),
    },
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
  return ModelProto.encode(model).finish();
}
