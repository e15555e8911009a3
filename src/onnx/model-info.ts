/**
 * Reads what the server needs from an ONNX file without creating a session: graph inputs
 * and outputs (names, element types, shapes), metadata_props, and whether any tensor uses
 * external data. Decoding uses the ONNX protos vendored in proto/onnx (ts-proto).
 */
import { ModelProto, type TypeProto, type ValueInfoProto } from '../gen/onnx/onnx-ml.js';

/** A graph input or output as declared. `elemType` is ONNX's number; -1 dims are dynamic. */
export interface OnnxValueInfo {
  readonly name: string;
  /** ONNX TensorProto.DataType, or 0 when the value is not a tensor (sequence, map, ...). */
  readonly elemType: number;
  /** null when the graph declares no shape. */
  readonly dims: readonly number[] | null;
}

export interface OnnxModelInfo {
  readonly irVersion: number;
  readonly producerName: string;
  readonly opsets: ReadonlyArray<{ readonly domain: string; readonly version: number }>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly usesExternalData: boolean;
}

const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL

function valueInfo(v: ValueInfoProto): OnnxValueInfo {
  const t: TypeProto | undefined = v.type;
  const tensor = t?.tensorType;
  if (tensor === undefined) return { name: v.name ?? '', elemType: 0, dims: null };
  const shape = tensor.shape;
  const dims =
    shape === undefined
      ? null
      : shape.dim.map((d) => (d.dimValue !== undefined && d.dimValue > 0 ? d.dimValue : d.dimValue === 0 ? 0 : -1));
  return { name: v.name ?? '', elemType: tensor.elemType ?? 0, dims };
}

/** Parses an ONNX ModelProto. Throws an Error whose message says what is wrong. */
export function readOnnxModelInfo(bytes: Uint8Array): OnnxModelInfo {
  let model: ModelProto;
  try {
    model = ModelProto.decode(bytes);
  } catch (err) {
    throw new Error(`not an ONNX model: ${(err as Error).message}`, { cause: err });
  }
  const graph = model.graph;
  if (graph === undefined || model.irVersion === undefined) {
    throw new Error('not an ONNX model: no graph or ir_version');
  }
  const initializers = new Set(graph.initializer.map((t) => t.name ?? ''));
  const external = (t: { dataLocation?: number; externalData: unknown[] }): boolean =>
    t.dataLocation === EXTERNAL || t.externalData.length > 0;
  let usesExternalData = graph.initializer.some(external);
  for (const node of graph.node) {
    for (const attr of node.attribute) {
      if (attr.t !== undefined && external(attr.t)) usesExternalData = true;
      for (const t of attr.tensors) if (external(t)) usesExternalData = true;
    }
  }
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const p of model.metadataProps) if (p.key !== undefined) metadata[p.key] = p.value ?? '';
  return {
    irVersion: model.irVersion,
    producerName: model.producerName ?? '',
    opsets: model.opsetImport.map((o) => ({ domain: o.domain ?? '', version: o.version ?? 0 })),
    // Before IR 4, initializers were also listed as graph inputs; they are not model inputs.
    inputs: graph.input.filter((v) => !initializers.has(v.name ?? '')).map(valueInfo),
    outputs: graph.output.map(valueInfo),
    metadata,
    usesExternalData,
  };
}
