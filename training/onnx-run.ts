/**
 * Runs a binary classifier's ONNX in onnxruntime-node on a [N, F] float32 matrix and returns
 * P(class 1) per row. Works for Quiver's own exports and for uploaded models: the input is the
 * model's single input, the probabilities are the output metadata `quiver.probability_output`
 * names, else `probabilities`, else the first tensor output whose name contains "prob"; a
 * [N, 2] output gives column 1, a [N] or [N, 1] output is read as P(class 1) (a sigmoid).
 */
import ort from 'onnxruntime-node';

import { readOnnxModelInfo } from '../src/onnx/model-info.js';
import { type Matrix, toFloat32, width } from './matrix.js';

/** One session for one run, always released. Single-threaded: the result does not depend on the machine. */
export async function runOnnx(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
  fetches: string[],
): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    return await session.run(feeds, fetches);
  } finally {
    await session.release();
  }
}

export interface ClassifierIo {
  readonly input: string;
  readonly output: string;
  /** The model's feature names from its metadata, or null when it lists none. */
  readonly featureNames: string[] | null;
}

/** A feature-names entry as the server reads it: a JSON array or a comma-separated list. */
function parseNames(text: string | undefined): string[] | null {
  const trimmed = text?.trim() ?? '';
  if (trimmed === '') return null;
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // not JSON: read it as a comma-separated list
    }
  }
  return trimmed.split(',').map((s) => s.trim());
}

/** Where a classifier takes its features and gives P(class 1), read from the ONNX graph and metadata. */
export function classifierIo(bytes: Uint8Array): ClassifierIo {
  const info = readOnnxModelInfo(bytes);
  if (info.inputs.length !== 1) throw new Error(`the model has ${info.inputs.length} inputs; evaluation needs one [N, F] input`);
  const tensors = info.outputs.filter((o) => o.elemType !== 0).map((o) => o.name);
  const named = info.metadata['quiver.probability_output'];
  const output =
    (named !== undefined && tensors.includes(named) ? named : undefined) ??
    tensors.find((o) => o === 'probabilities') ??
    tensors.find((o) => /prob/i.test(o));
  if (output === undefined) throw new Error(`no probability output among the model's tensor outputs (${tensors.join(', ')})`);
  const listed = info.metadata['quiver.feature_names'] ?? info.metadata['feature_names'];
  return { input: info.inputs[0]!.name, output, featureNames: parseNames(listed) };
}

/** P(class 1) per row of X, by onnxruntime. */
export async function onnxProbabilities(bytes: Uint8Array, X: Matrix): Promise<number[]> {
  const { input, output } = classifierIo(bytes);
  const f = width(X);
  const result = await runOnnx(bytes, { [input]: new ort.Tensor('float32', toFloat32(X, f), [X.length, f]) }, [output]);
  const tensor = result[output];
  if (tensor === undefined) throw new Error(`the model did not return '${output}'`);
  const data = tensor.data as ArrayLike<number>;
  const cols = tensor.dims.length === 2 ? Number(tensor.dims[1]) : 1;
  if (cols !== 1 && cols !== 2) throw new Error(`'${output}' has ${cols} columns; binary evaluation needs 1 or 2`);
  return Array.from({ length: X.length }, (_, i) => Number(data[i * cols + cols - 1]));
}
