/**
 * A multi-layer perceptron for binary classification: one or two ReLU hidden layers, a single
 * logit output with a sigmoid (the two-class softmax), trained with Adam on mini-batches of
 * standardised features to minimise log loss plus an L2 penalty. Initialisation (He normal)
 * and batch order are seeded.
 *
 * Float32 parity: the standardisation is folded into the first layer, weights are stored as
 * float32, and predictProba rounds every layer's output to float32 as onnxruntime does.
 */
import { invalidArgument } from '../../src/core/errors.js';
import { type Matrix, assertBinaryLabels, columnScaling, width } from '../matrix.js';
import { Random } from '../random.js';
import { binaryClassifierOnnx, sigmoid } from './export.js';
import { type ProgressFn, type Trainer, requirePositive, requirePositiveInt, resolveParams } from './trainer.js';

export interface MlpParams {
  /** Hidden layer widths, one or two layers (default [16]). */
  readonly hidden: readonly number[];
  /** Passes over the training rows (default 100). */
  readonly epochs: number;
  /** Rows per Adam step (default 32). */
  readonly batchSize: number;
  /** Adam step size (default 0.01). */
  readonly learningRate: number;
  /** L2 penalty on the weights (not the biases), added to the mean log loss (default 1e-4). */
  readonly l2: number;
  readonly seed: number;
}

export interface DenseLayer {
  readonly inputs: number;
  readonly outputs: number;
  /** Row-major [inputs, outputs], float32 values. */
  readonly weights: number[];
  readonly bias: number[];
}

export interface MlpModel {
  readonly algorithm: 'mlp';
  readonly params: MlpParams;
  readonly nFeatures: number;
  /** Hidden layers (ReLU) then the output layer (1 unit, the logit); the first takes raw features. */
  readonly layers: DenseLayer[];
  /** Mean log loss over the training rows after the last epoch. */
  readonly trainLoss: number;
}

const NAME = 'mlp';
const defaults: MlpParams = { hidden: [16], epochs: 100, batchSize: 32, learningRate: 0.01, l2: 1e-4, seed: 42 };

interface Layer {
  inputs: number;
  outputs: number;
  W: Float64Array;
  b: Float64Array;
}

/** y = x W + b, then ReLU unless it is the output layer. */
function forwardLayer(layer: Layer, x: Float64Array, out: Float64Array, relu: boolean): void {
  const { inputs, outputs, W, b } = layer;
  for (let o = 0; o < outputs; o++) out[o] = b[o]!;
  for (let i = 0; i < inputs; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    for (let o = 0; o < outputs; o++) out[o]! += xi * W[i * outputs + o]!;
  }
  if (relu) for (let o = 0; o < outputs; o++) if (out[o]! < 0) out[o] = 0;
}

function train(X: Matrix, y: readonly number[], given?: Partial<MlpParams>, onProgress?: ProgressFn): MlpModel {
  const params = resolveParams(NAME, defaults, given);
  if (params.hidden.length < 1 || params.hidden.length > 2) throw invalidArgument(`${NAME}: hidden must list one or two layer widths`);
  params.hidden.forEach((h) => requirePositiveInt(NAME, 'hidden width', h));
  requirePositiveInt(NAME, 'epochs', params.epochs);
  requirePositiveInt(NAME, 'batchSize', params.batchSize);
  requirePositive(NAME, 'learningRate', params.learningRate);
  if (!(params.l2 >= 0)) throw invalidArgument(`${NAME}: l2 must be >= 0`);
  assertBinaryLabels(X, y);
  const f = width(X);
  const n = X.length;
  const { mean, scale } = columnScaling(X, f);
  const Z = X.map((row) => Float64Array.from({ length: f }, (_, j) => ((row[j] as number) - mean[j]!) / scale[j]!));

  const rng = new Random(params.seed);
  const sizes = [f, ...params.hidden, 1];
  const layers: Layer[] = sizes.slice(1).map((outputs, l) => {
    const inputs = sizes[l]!;
    const std = Math.sqrt(2 / inputs); // He initialisation, for ReLU
    return { inputs, outputs, W: Float64Array.from({ length: inputs * outputs }, () => rng.normal(0, std)), b: new Float64Array(outputs) };
  });
  const L = layers.length;
  const grads = layers.map((l) => ({ W: new Float64Array(l.W.length), b: new Float64Array(l.b.length) }));
  const adam = layers.map((l) => ({
    mW: new Float64Array(l.W.length),
    vW: new Float64Array(l.W.length),
    mb: new Float64Array(l.b.length),
    vb: new Float64Array(l.b.length),
  }));
  const acts = sizes.map((s) => new Float64Array(s));
  const deltas = sizes.map((s) => new Float64Array(s));
  const beta1 = 0.9;
  const beta2 = 0.999;
  let step = 0;

  const forward = (z: Float64Array): number => {
    acts[0]!.set(z);
    layers.forEach((layer, l) => forwardLayer(layer, acts[l]!, acts[l + 1]!, l < L - 1));
    return acts[L]![0]!;
  };

  const adamUpdate = (param: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array): void => {
    const c1 = 1 - beta1 ** step;
    const c2 = 1 - beta2 ** step;
    for (let k = 0; k < param.length; k++) {
      const g = grad[k]!;
      m[k] = beta1 * m[k]! + (1 - beta1) * g;
      v[k] = beta2 * v[k]! + (1 - beta2) * g * g;
      param[k]! -= (params.learningRate * (m[k]! / c1)) / (Math.sqrt(v[k]! / c2) + 1e-8);
    }
  };

  const indices = Array.from({ length: n }, (_, i) => i);
  for (let epoch = 0; epoch < params.epochs; epoch++) {
    rng.shuffle(indices);
    for (let start = 0; start < n; start += params.batchSize) {
      const batch = indices.slice(start, start + params.batchSize);
      for (const g of grads) {
        g.W.fill(0);
        g.b.fill(0);
      }
      for (const i of batch) {
        const p = sigmoid(forward(Z[i]!));
        deltas[L]![0] = (p - (y[i] as number)) / batch.length; // d(mean log loss)/d(logit)
        for (let l = L - 1; l >= 0; l--) {
          const { inputs, outputs, W } = layers[l]!;
          const a = acts[l]!;
          const d = deltas[l + 1]!;
          const g = grads[l]!;
          for (let o = 0; o < outputs; o++) g.b[o]! += d[o]!;
          for (let k = 0; k < inputs; k++) {
            const ak = a[k]!;
            if (ak !== 0) for (let o = 0; o < outputs; o++) g.W[k * outputs + o]! += ak * d[o]!;
          }
          if (l > 0) {
            const below = deltas[l]!;
            for (let k = 0; k < inputs; k++) {
              if (a[k]! <= 0) {
                below[k] = 0; // ReLU gate
                continue;
              }
              let s = 0;
              for (let o = 0; o < outputs; o++) s += W[k * outputs + o]! * d[o]!;
              below[k] = s;
            }
          }
        }
      }
      step++;
      layers.forEach((layer, l) => {
        const g = grads[l]!;
        for (let k = 0; k < layer.W.length; k++) g.W[k]! += params.l2 * layer.W[k]!;
        const s = adam[l]!;
        adamUpdate(layer.W, g.W, s.mW, s.vW);
        adamUpdate(layer.b, g.b, s.mb, s.vb);
      });
    }
    onProgress?.(epoch + 1, params.epochs);
  }

  let trainLoss = 0;
  Z.forEach((z, i) => {
    const p = Math.min(1 - 1e-15, Math.max(1e-15, sigmoid(forward(z))));
    trainLoss -= y[i] === 1 ? Math.log(p) : Math.log(1 - p);
  });
  trainLoss /= n;

  // Fold the standardisation into the first layer: ((x - m) / s) W + b = x (W / s) + (b - (m / s) W).
  const exported: DenseLayer[] = layers.map((layer, l) => {
    const { inputs, outputs } = layer;
    const W = Float64Array.from(layer.W);
    const b = Float64Array.from(layer.b);
    if (l === 0) {
      for (let i = 0; i < inputs; i++) {
        for (let o = 0; o < outputs; o++) {
          W[i * outputs + o] = layer.W[i * outputs + o]! / scale[i]!;
          b[o]! -= W[i * outputs + o]! * mean[i]!;
        }
      }
    }
    return { inputs, outputs, weights: Array.from(W, Math.fround), bias: Array.from(b, Math.fround) };
  });
  return { algorithm: 'mlp', params: { ...params, hidden: [...params.hidden] }, nFeatures: f, layers: exported, trainLoss };
}

function predictProba(model: MlpModel, X: Matrix): number[] {
  const layers = model.layers.map((l) => ({
    inputs: l.inputs,
    outputs: l.outputs,
    W: Float64Array.from(l.weights),
    b: Float64Array.from(l.bias),
  }));
  const acts = [model.nFeatures, ...layers.map((l) => l.outputs)].map((s) => new Float64Array(s));
  return X.map((row) => {
    if (row.length !== model.nFeatures) throw new Error(`row has ${row.length} features, the model ${model.nFeatures}`);
    for (let j = 0; j < model.nFeatures; j++) acts[0]![j] = Math.fround(row[j] as number);
    layers.forEach((layer, l) => {
      const out = acts[l + 1]!;
      forwardLayer(layer, acts[l]!, out, l < layers.length - 1);
      for (let o = 0; o < out.length; o++) out[o] = Math.fround(out[o]!); // onnxruntime keeps float32 activations
    });
    return sigmoid(acts[layers.length]![0]!);
  });
}

/** Gemm (+ Relu) per layer; the last Gemm gives the logit [N, 1]. */
function toOnnx(model: MlpModel, featureNames: readonly string[]): Uint8Array {
  if (featureNames.length !== model.nFeatures) {
    throw new Error(`${featureNames.length} feature names for a model of ${model.nFeatures} features`);
  }
  const last = model.layers.length - 1;
  let input = 'features';
  const nodes = model.layers.flatMap((_, l) => {
    const out = l === last ? 'logit' : `h${l}`;
    const gemm = { opType: 'Gemm', inputs: [input, `W${l}`, `B${l}`], outputs: [l === last ? out : `${out}_pre`] };
    input = out;
    return l === last ? [gemm] : [gemm, { opType: 'Relu', inputs: [`${out}_pre`], outputs: [out] }];
  });
  return binaryClassifierOnnx({
    algorithm: NAME,
    featureNames,
    initializers: model.layers.flatMap((layer, l) => [
      { name: `W${l}`, dtype: 'float32' as const, dims: [layer.inputs, layer.outputs], values: layer.weights },
      { name: `B${l}`, dtype: 'float32' as const, dims: [layer.outputs], values: layer.bias },
    ]),
    nodes,
    logitName: 'logit',
    description: `MLP ${[model.nFeatures, ...model.params.hidden, 1].join('-')} (ReLU) trained by Quiver`,
  });
}

export const mlp: Trainer<MlpParams, MlpModel> = { name: NAME, defaults, train, predictProba, toOnnx };
