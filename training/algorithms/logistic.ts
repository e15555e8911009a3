/**
 * L2-regularised logistic regression, fitted by Newton's method (IRLS) to the exact optimum
 * of scikit-learn's objective: C * sum(log loss) + 0.5 * ||w||^2, intercept not penalised.
 * The solve runs on standardised features for conditioning, with the penalty rescaled so the
 * optimum is the raw-feature one; the exported weights then apply to raw features directly.
 */
import { type Matrix, assertBinaryLabels, columnScaling, width } from '../matrix.js';
import { binaryClassifierOnnx, sigmoid } from './export.js';
import { type ProgressFn, type Trainer, requirePositive, requirePositiveInt, resolveParams } from './trainer.js';

export interface LogisticParams {
  /** Inverse regularisation strength, as scikit-learn's C (default 1). */
  readonly C: number;
  /** Newton iterations at most (default 100; it usually converges in under 15). */
  readonly maxIter: number;
  /** Stop when the largest parameter step (standardised units) is below this (default 1e-10). */
  readonly tol: number;
}

export interface LogisticModel {
  readonly algorithm: 'logistic';
  readonly params: LogisticParams;
  /** Raw-feature weights, float32 values (what the ONNX holds). */
  readonly weights: number[];
  readonly bias: number;
  readonly iterations: number;
  readonly converged: boolean;
}

const NAME = 'logistic';
const defaults: LogisticParams = { C: 1, maxIter: 100, tol: 1e-10 };

function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/** Solves A x = b for symmetric positive definite A (row-major d x d) by Cholesky. */
function choleskySolve(A: Float64Array, b: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * d + j]!;
      for (let k = 0; k < j; k++) s -= L[i * d + k]! * L[j * d + k]!;
      if (i === j) {
        // Tiny jitter: a saturated intercept can make the Hessian numerically singular.
        L[i * d + i] = Math.sqrt(Math.max(s, 1e-12));
      } else L[i * d + j] = s / L[j * d + j]!;
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * d + k]! * z[k]!;
    z[i] = s / L[i * d + i]!;
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < d; k++) s -= L[k * d + i]! * x[k]!;
    x[i] = s / L[i * d + i]!;
  }
  return x;
}

function train(X: Matrix, y: readonly number[], given?: Partial<LogisticParams>, onProgress?: ProgressFn): LogisticModel {
  const params = resolveParams(NAME, defaults, given);
  requirePositive(NAME, 'C', params.C);
  requirePositiveInt(NAME, 'maxIter', params.maxIter);
  assertBinaryLabels(X, y);
  const f = width(X);
  const n = X.length;
  const d = f + 1; // theta = [intercept, v_1..v_f] on standardised features
  const { mean, scale } = columnScaling(X, f);
  const Z = new Float64Array(n * f);
  X.forEach((row, i) => {
    for (let j = 0; j < f; j++) Z[i * f + j] = ((row[j] as number) - mean[j]!) / scale[j]!;
  });
  // sum(log loss) + 0.5 * sum(w^2) / C with w_j = v_j / scale_j: a per-coefficient penalty.
  const lambda = Float64Array.from(scale, (s) => 1 / (params.C * s * s));
  const logits = (theta: Float64Array): Float64Array => {
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = theta[0]!;
      for (let j = 0; j < f; j++) s += theta[j + 1]! * Z[i * f + j]!;
      z[i] = s;
    }
    return z;
  };
  const objective = (theta: Float64Array): number => {
    const z = logits(theta);
    let loss = 0;
    for (let i = 0; i < n; i++) loss += softplus(z[i]!) - (y[i] as number) * z[i]!;
    for (let j = 0; j < f; j++) loss += 0.5 * lambda[j]! * theta[j + 1]! ** 2;
    return loss;
  };

  let theta = new Float64Array(d);
  let current = objective(theta);
  let iterations = 0;
  let converged = false;
  while (iterations < params.maxIter) {
    iterations++;
    const z = logits(theta);
    const grad = new Float64Array(d);
    const hess = new Float64Array(d * d);
    const xi = new Float64Array(d);
    xi[0] = 1;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(z[i]!);
      const r = p - (y[i] as number);
      const w = p * (1 - p);
      for (let j = 0; j < f; j++) xi[j + 1] = Z[i * f + j]!;
      for (let a = 0; a < d; a++) {
        grad[a]! += r * xi[a]!;
        const wa = w * xi[a]!;
        for (let b = 0; b <= a; b++) hess[a * d + b]! += wa * xi[b]!;
      }
    }
    for (let j = 0; j < f; j++) {
      grad[j + 1]! += lambda[j]! * theta[j + 1]!;
      hess[(j + 1) * d + j + 1]! += lambda[j]!;
    }
    for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) hess[b * d + a] = hess[a * d + b]!;
    const step = choleskySolve(hess, grad, d);
    // Backtracking (Armijo): a full Newton step can overshoot while far from the optimum.
    const decrease = grad.reduce((acc, g, a) => acc + g * step[a]!, 0);
    let t = 1;
    let next = theta;
    let value = current;
    for (; t > 1e-12; t /= 2) {
      next = Float64Array.from(theta, (v, a) => v - t * step[a]!);
      value = objective(next);
      if (value <= current - 1e-4 * t * decrease) break;
    }
    const moved = Math.max(...step.map((s) => Math.abs(t * s)));
    theta = next;
    current = Math.min(value, current);
    onProgress?.(iterations, params.maxIter);
    if (moved < params.tol || t <= 1e-12) {
      converged = moved < params.tol;
      break;
    }
  }
  if (iterations < params.maxIter) onProgress?.(params.maxIter, params.maxIter);

  // Back to raw features: w_j = v_j / s_j, b = b_std - sum(w_j * m_j). float32, as exported.
  const weights = Array.from({ length: f }, (_, j) => Math.fround(theta[j + 1]! / scale[j]!));
  let bias = theta[0]!;
  for (let j = 0; j < f; j++) bias -= (theta[j + 1]! / scale[j]!) * mean[j]!;
  return { algorithm: 'logistic', params, weights, bias: Math.fround(bias), iterations, converged };
}

/** float32 inputs times the float32 weights, summed in float64: within float32 rounding of onnxruntime's MatMul. */
function predictProba(model: LogisticModel, X: Matrix): number[] {
  const f = model.weights.length;
  return X.map((row) => {
    if (row.length !== f) throw new Error(`row has ${row.length} features, the model ${f}`);
    let z = model.bias;
    for (let j = 0; j < f; j++) z += model.weights[j]! * Math.fround(row[j] as number);
    return sigmoid(Math.fround(z));
  });
}

function toOnnx(model: LogisticModel, featureNames: readonly string[]): Uint8Array {
  const f = model.weights.length;
  if (featureNames.length !== f) throw new Error(`${featureNames.length} feature names for a model of ${f} features`);
  return binaryClassifierOnnx({
    algorithm: NAME,
    featureNames,
    initializers: [
      { name: 'W', dtype: 'float32', dims: [f, 1], values: model.weights },
      { name: 'B', dtype: 'float32', dims: [1], values: [model.bias] },
    ],
    nodes: [
      { opType: 'MatMul', inputs: ['features', 'W'], outputs: ['xw'] },
      { opType: 'Add', inputs: ['xw', 'B'], outputs: ['logit'] },
    ],
    logitName: 'logit',
    description: `L2 logistic regression (C=${model.params.C}) trained by Quiver`,
  });
}

export const logistic: Trainer<LogisticParams, LogisticModel> = { name: NAME, defaults, train, predictProba, toOnnx };
