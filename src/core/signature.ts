/**
 * The serving signature of a model version: what requests must look like and how raw
 * outputs become a prediction. Derived once, at load, from the ONNX graph and its
 * metadata_props (keys `quiver.*`, documented in docs/serving.md).
 */
import type { OnnxModelInfo } from '../onnx/model-info.js';
import { type DType, dtypeFromOnnx } from './tensor.js';

export interface TensorSpec {
  readonly name: string;
  readonly dtype: DType;
  /** -1 for dynamic dimensions; empty for scalars; null when the graph declares no shape. */
  readonly dims: readonly number[] | null;
}

export type Task = 'classification' | 'regression' | 'unspecified';

export interface ServingSignature {
  readonly inputs: readonly TensorSpec[];
  /** Tensor outputs only: sequence/map outputs (e.g. ZipMap) are never fetched. */
  readonly outputs: readonly TensorSpec[];
  /** Set when the model takes one [N, F] float input: the `features` map form works. */
  readonly featureNames: readonly string[] | null;
  /** Whether every input and output has a dynamic first (batch) dimension. */
  readonly batchable: boolean;
  readonly task: Task;
  readonly classLabels: readonly string[];
  readonly probabilityOutput: string | null;
  readonly labelOutput: string | null;
  readonly metadata: Readonly<Record<string, string>>;
}

function parseList(text: string | undefined): string[] | null {
  if (text === undefined || text.trim() === '') return null;
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // not JSON: fall through to the comma-separated form
    }
  }
  return trimmed.split(',').map((s) => s.trim());
}

/** Builds the serving signature; throws an Error naming what the server cannot serve. */
export function deriveSignature(info: OnnxModelInfo): ServingSignature {
  const inputs: TensorSpec[] = info.inputs.map((v) => {
    const dtype = dtypeFromOnnx(v.elemType);
    if (dtype === undefined) {
      throw new Error(
        `input '${v.name}' has ONNX element type ${v.elemType}, which Quiver does not serve (FP32, FP64, INT32, INT64, BOOL)`,
      );
    }
    return { name: v.name, dtype, dims: v.dims };
  });
  if (inputs.length === 0) throw new Error('the model has no inputs');
  const outputs: TensorSpec[] = [];
  for (const v of info.outputs) {
    const dtype = dtypeFromOnnx(v.elemType);
    if (dtype !== undefined) outputs.push({ name: v.name, dtype, dims: v.dims });
  }
  if (outputs.length === 0) throw new Error('the model has no tensor outputs Quiver can return');

  const md = info.metadata;
  const only = inputs.length === 1 ? inputs[0] : undefined;
  let featureNames: string[] | null = null;
  if (
    only !== undefined &&
    (only.dtype === 'float32' || only.dtype === 'float64') &&
    only.dims !== null &&
    only.dims.length === 2 &&
    (only.dims[0] === -1 || only.dims[0] === 1) &&
    (only.dims[1] ?? 0) > 0
  ) {
    const width = only.dims[1] as number;
    const named = parseList(md['quiver.feature_names'] ?? md['feature_names']);
    if (named !== null && named.length !== width) {
      throw new Error(`metadata feature_names lists ${named.length} names but input '${only.name}' has ${width} columns`);
    }
    if (named !== null && new Set(named).size !== named.length) throw new Error('metadata feature_names has duplicates');
    featureNames = named ?? Array.from({ length: width }, (_, i) => `feature_${i}`);
  }

  const batchable =
    inputs.every((t) => t.dims !== null && t.dims.length > 0 && t.dims[0] === -1) &&
    outputs.every((t) => t.dims === null || (t.dims.length > 0 && t.dims[0] === -1));

  const isFloat = (t: TensorSpec): boolean => t.dtype === 'float32' || t.dtype === 'float64';
  const isInt = (t: TensorSpec): boolean => t.dtype === 'int64' || t.dtype === 'int32';
  const byName = (name: string | undefined): TensorSpec | undefined =>
    name === undefined ? undefined : outputs.find((o) => o.name === name);

  const probability =
    byName(md['quiver.probability_output']) ??
    outputs.find((o) => isFloat(o) && /prob/i.test(o.name) && (o.dims === null || o.dims.length === 2));
  const label = byName(md['quiver.label_output']) ?? outputs.find((o) => isInt(o) && /label|class/i.test(o.name));
  const declared = md['quiver.task'];
  let task: Task;
  if (declared === 'classification' || declared === 'regression') task = declared;
  else if (probability !== undefined || label !== undefined) task = 'classification';
  else if (outputs.length >= 1 && outputs.every(isFloat)) task = 'regression';
  else task = 'unspecified';

  let classLabels = parseList(md['quiver.class_labels'] ?? md['class_labels']) ?? [];
  if (classLabels.length === 0 && task === 'classification' && probability?.dims != null) {
    const width = probability.dims[1] ?? -1;
    if (width > 0) classLabels = Array.from({ length: width }, (_, i) => String(i));
  }

  return Object.freeze({
    inputs,
    outputs,
    featureNames,
    batchable,
    task,
    classLabels,
    probabilityOutput: task === 'classification' ? (probability?.name ?? null) : null,
    labelOutput: task === 'classification' ? (label?.name ?? null) : null,
    metadata: md,
  });
}
