/**
 * The parity check run after every export: the ONNX, run by onnxruntime-node on the float32
 * features, must give the trainer's own P(class 1) within 1e-5, and its `label` output must be
 * the argmax of its `probabilities`. The trainers make this achievable by computing their
 * predictions as the graph does (float32 inputs and weights, float32 rounding where
 * onnxruntime keeps float32 intermediates; see each trainer's predictProba), so the only
 * differences left are float32 summation order and onnxruntime's sigmoid, around 1e-7.
 */
import ort from 'onnxruntime-node';

import { LABEL_OUTPUT, INPUT_NAME, PROBABILITY_OUTPUT } from './algorithms/export.js';
import { type Matrix, toFloat32, width } from './matrix.js';
import { runOnnx } from './onnx-run.js';

export const PARITY_THRESHOLD = 1e-5;

export interface ParityResult {
  /** Largest |P_onnx - P_trainer| over rows and both probability columns. */
  readonly maxAbsDiff: number;
  readonly threshold: number;
  readonly rows: number;
  /** Rows whose `label` output is not the argmax of `probabilities`. */
  readonly labelMismatches: number;
  readonly passed: boolean;
}

export async function checkParity(
  onnxBytes: Uint8Array,
  X: Matrix,
  expectedProba: readonly number[],
  threshold = PARITY_THRESHOLD,
): Promise<ParityResult> {
  if (expectedProba.length !== X.length) throw new Error(`${expectedProba.length} expected probabilities for ${X.length} rows`);
  const f = width(X);
  const out = await runOnnx(onnxBytes, { [INPUT_NAME]: new ort.Tensor('float32', toFloat32(X, f), [X.length, f]) }, [
    PROBABILITY_OUTPUT,
    LABEL_OUTPUT,
  ]);
  const proba = out[PROBABILITY_OUTPUT];
  const label = out[LABEL_OUTPUT];
  if (proba?.type !== 'float32' || proba.dims.join() !== `${X.length},2`) {
    throw new Error(`'${PROBABILITY_OUTPUT}' must be float32 [${X.length}, 2], got ${proba?.type} [${proba?.dims.join(', ')}]`);
  }
  if (label?.type !== 'int64' || label.dims.join() !== `${X.length}`) {
    throw new Error(`'${LABEL_OUTPUT}' must be int64 [${X.length}], got ${label?.type} [${label?.dims.join(', ')}]`);
  }
  const p = proba.data as Float32Array;
  const labels = label.data as BigInt64Array;
  let maxAbsDiff = 0;
  let labelMismatches = 0;
  expectedProba.forEach((expected, i) => {
    const p0 = p[2 * i]!;
    const p1 = p[2 * i + 1]!;
    const diff = Math.max(Math.abs(p1 - expected), Math.abs(p0 - (1 - expected)));
    // NaN never compares greater: make it fail loudly instead.
    maxAbsDiff = Number.isNaN(diff) ? Infinity : Math.max(maxAbsDiff, diff);
    if (labels[i] !== (p1 > p0 ? 1n : 0n)) labelMismatches++;
  });
  return { maxAbsDiff, threshold, rows: X.length, labelMismatches, passed: maxAbsDiff <= threshold && labelMismatches === 0 };
}
