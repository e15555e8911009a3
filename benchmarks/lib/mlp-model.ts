/**
 * A classifier over the blueprint's ten features with megabytes of weights, for memory
 * benchmarks: features [N, 10] -> Gemm(hidden) -> Relu -> Gemm(hidden) -> Relu -> Gemm(2)
 * -> Softmax, plus the argmax label. The weights (2 x hidden^2 floats dominate: 8 MiB at
 * hidden 1024) are deterministic for a seed, so two seeds give two "retrained" versions.
 */
import { buildOnnxModel } from '../../src/onnx/builder.js';

const FEATURES = 10;

/** xorshift32 in [-scale, scale): deterministic weights without a dependency. */
function weights(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

/** Bytes of float32 weights in the model built with this hidden size. */
export function mlpWeightBytes(hidden: number): number {
  return 4 * (FEATURES * hidden + hidden + hidden * hidden + hidden + hidden * 2 + 2);
}

export function buildMlpModel(hidden: number, seed: number): Uint8Array {
  const dense = (name: string, inDim: number, outDim: number, s: number) => [
    { name: `${name}_W`, dtype: 'float32' as const, dims: [inDim, outDim], values: weights(inDim * outDim, s, 1 / Math.sqrt(inDim)) },
    { name: `${name}_B`, dtype: 'float32' as const, dims: [outDim], values: weights(outDim, s + 1, 0.1) },
  ];
  return buildOnnxModel({
    graphName: `soak_mlp_${hidden}_${seed}`,
    inputs: [{ name: 'features', dtype: 'float32', dims: ['batch', FEATURES] }],
    outputs: [
      { name: 'label', dtype: 'int64', dims: ['batch'] },
      { name: 'probabilities', dtype: 'float32', dims: ['batch', 2] },
    ],
    initializers: [
      ...dense('l1', FEATURES, hidden, seed * 10 + 1),
      ...dense('l2', hidden, hidden, seed * 10 + 3),
      ...dense('l3', hidden, 2, seed * 10 + 5),
    ],
    nodes: [
      { opType: 'Gemm', inputs: ['features', 'l1_W', 'l1_B'], outputs: ['h1'] },
      { opType: 'Relu', inputs: ['h1'], outputs: ['a1'] },
      { opType: 'Gemm', inputs: ['a1', 'l2_W', 'l2_B'], outputs: ['h2'] },
      { opType: 'Relu', inputs: ['h2'], outputs: ['a2'] },
      { opType: 'Gemm', inputs: ['a2', 'l3_W', 'l3_B'], outputs: ['logits'] },
      { opType: 'Softmax', inputs: ['logits'], outputs: ['probabilities'], attributes: { axis: { i: 1 } } },
      { opType: 'ArgMax', inputs: ['probabilities'], outputs: ['label'], attributes: { axis: { i: 1 }, keepdims: { i: 0 } } },
    ],
    metadata: {
      'quiver.feature_names': Array.from({ length: FEATURES }, (_, i) => `feature_${i}`).join(','),
      'quiver.task': 'classification',
      'quiver.class_labels': '0,1',
      'quiver.probability_output': 'probabilities',
      'quiver.label_output': 'label',
      description: `soak benchmark MLP, hidden ${hidden}, seed ${seed}`,
    },
  });
}
