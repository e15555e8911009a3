/**
 * The shapes training code passes around: a feature matrix is an array of rows (each row
 * indexable, a number[] or a typed array) and labels are 0/1 numbers.
 */
import { failedPrecondition } from '../src/core/errors.js';

export type Row = ArrayLike<number>;
export type Matrix = readonly Row[];

/** The rows of `X` at `indices`, in that order (rows are shared, not copied). */
export function takeRows<T>(rows: readonly T[], indices: readonly number[]): T[] {
  return indices.map((i) => {
    const row = rows[i];
    if (row === undefined) throw new Error(`row index ${i} is out of range (${rows.length} rows)`);
    return row;
  });
}

/** Number of columns of X; throws if rows disagree, so trainers never read past a short row. */
export function width(X: Matrix): number {
  const first = X[0];
  if (first === undefined) throw new Error('the feature matrix has no rows');
  const f = first.length;
  X.forEach((row, i) => {
    if (row.length !== f) throw new Error(`row ${i} has ${row.length} features, expected ${f}`);
  });
  return f;
}

/** Checks that y is the labels of X: same length, only 0 and 1, and (unless allowOneClass) both of them. */
export function assertBinaryLabels(X: Matrix, y: readonly number[], allowOneClass = false): void {
  if (X.length !== y.length) throw new Error(`X has ${X.length} rows but y has ${y.length} labels`);
  let ones = 0;
  y.forEach((v, i) => {
    if (v !== 0 && v !== 1) throw failedPrecondition(`label at row ${i} is ${v}; binary classification needs 0 or 1`);
    ones += v;
  });
  if (!allowOneClass && (ones === 0 || ones === y.length))
    throw failedPrecondition(`the labels hold a single class (${y.length} rows of ${ones === 0 ? 0 : 1})`);
}

/** Row-major float32 copy, the layout onnxruntime takes for a [N, F] FLOAT tensor. */
export function toFloat32(X: Matrix, f = width(X)): Float32Array {
  const out = new Float32Array(X.length * f);
  X.forEach((row, i) => {
    for (let j = 0; j < f; j++) out[i * f + j] = row[j] as number;
  });
  return out;
}

/** Per-column mean and (population) std; a constant column gets std 1 so scaling is a no-op. */
export function columnScaling(X: Matrix, f = width(X)): { mean: Float64Array; scale: Float64Array } {
  const mu = new Float64Array(f);
  const scale = new Float64Array(f);
  for (const row of X) for (let j = 0; j < f; j++) mu[j]! += row[j] as number;
  for (let j = 0; j < f; j++) mu[j]! /= X.length;
  for (const row of X)
    for (let j = 0; j < f; j++) {
      const d = (row[j] as number) - mu[j]!;
      scale[j]! += d * d;
    }
  for (let j = 0; j < f; j++) {
    const s = Math.sqrt(scale[j]! / X.length);
    scale[j] = s > 1e-12 ? s : 1;
  }
  return { mean: mu, scale };
}
