/** ONNX models built in TypeScript for the tests, written to a temp directory. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AttributeProto, AttributeProto_AttributeType, ModelProto } from '../../src/gen/onnx/onnx-ml.js';
import { buildOnnxModel } from '../../src/onnx/builder.js';
import { buildDemoModel } from '../../src/onnx/demo-model.js';

export const tmp = (prefix = 'quiver-test-'): string => mkdtempSync(join(tmpdir(), prefix));

export function writeModel(dir: string, name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

export const demoModel = buildDemoModel;

/** A regressor y = 2*a - b + 0.5 over FP64 features named in metadata. */
export function regressorModel(weights: readonly [number, number] = [2, -1], bias = 0.5): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'float64', dims: ['N', 2] }],
    outputs: [{ name: 'y', dtype: 'float64', dims: ['N', 1] }],
    initializers: [
      { name: 'W', dtype: 'float64', dims: [2, 1], values: [...weights] },
      { name: 'B', dtype: 'float64', dims: [1], values: [bias] },
    ],
    nodes: [
      { opType: 'MatMul', inputs: ['x', 'W'], outputs: ['xw'] },
      { opType: 'Add', inputs: ['xw', 'B'], outputs: ['y'] },
    ],
    metadata: { 'quiver.feature_names': 'a,b', 'quiver.task': 'regression' },
  });
}

/**
 * Several typed inputs: ids INT64 [N, 3], mask BOOL [N, 3], scale FP32 [N, 1].
 * Outputs: total INT64 [N] (sum of ids where mask), scaled FP32 [N, 1] (total * scale),
 * count INT32 [N] (number of true mask entries).
 */
export function typedModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [
      { name: 'ids', dtype: 'int64', dims: ['N', 3] },
      { name: 'mask', dtype: 'bool', dims: ['N', 3] },
      { name: 'scale', dtype: 'float32', dims: ['N', 1] },
    ],
    outputs: [
      { name: 'total', dtype: 'int64', dims: ['N'] },
      { name: 'scaled', dtype: 'float32', dims: ['N', 1] },
      { name: 'count', dtype: 'int32', dims: ['N'] },
    ],
    initializers: [{ name: 'axes', dtype: 'int64', dims: [1], values: [1] }],
    nodes: [
      { opType: 'Cast', inputs: ['mask'], outputs: ['mask64'], attributes: { to: { i: 7 } } },
      { opType: 'Mul', inputs: ['ids', 'mask64'], outputs: ['kept'] },
      { opType: 'ReduceSum', inputs: ['kept', 'axes'], outputs: ['total'], attributes: { keepdims: { i: 0 } } },
      { opType: 'ReduceSum', inputs: ['mask64', 'axes'], outputs: ['count64'], attributes: { keepdims: { i: 0 } } },
      { opType: 'Cast', inputs: ['count64'], outputs: ['count'], attributes: { to: { i: 6 } } },
      { opType: 'Cast', inputs: ['total'], outputs: ['totalf'], attributes: { to: { i: 1 } } },
      { opType: 'Unsqueeze', inputs: ['totalf', 'axes'], outputs: ['total2'] },
      { opType: 'Mul', inputs: ['total2', 'scale'], outputs: ['scaled'] },
    ],
  });
}

/** A model with a fixed batch of exactly 1 row: not batchable. */
export function fixedBatchModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 3] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 3] }],
    initializers: [{ name: 'two', dtype: 'float32', dims: [1], values: [2] }],
    nodes: [{ opType: 'Mul', inputs: ['x', 'two'], outputs: ['y'] }],
  });
}

/**
 * A deliberately slow model over 4 features: each row goes through `depth` 512x512
 * MatMuls (with Tanh), about `depth` x 0.5 MFLOP per row. Output: y [N, 1].
 */
export function slowModel(depth = 24): Uint8Array {
  const width = 512;
  const expand = Array.from({ length: 4 * width }, (_, i) => ((i * 7919) % 13) / 13 - 0.5);
  const square = Array.from({ length: width * width }, (_, i) => (((i * 104729) % 17) / 17 - 0.5) / 16);
  const nodes: Array<{ opType: string; inputs: string[]; outputs: string[]; attributes?: Record<string, { i: number }> }> = [
    { opType: 'MatMul', inputs: ['features', 'E'], outputs: ['h0'] },
  ];
  for (let i = 0; i < depth; i++) {
    nodes.push({ opType: 'MatMul', inputs: [`h${i}`, 'W'], outputs: [`m${i}`] });
    nodes.push({ opType: 'Tanh', inputs: [`m${i}`], outputs: [`h${i + 1}`] });
  }
  nodes.push({ opType: 'ReduceSum', inputs: [`h${depth}`, 'axes'], outputs: ['y'], attributes: { keepdims: { i: 1 } } });
  return buildOnnxModel({
    inputs: [{ name: 'features', dtype: 'float32', dims: ['N', 4] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 1] }],
    initializers: [
      { name: 'E', dtype: 'float32', dims: [4, width], values: expand },
      { name: 'W', dtype: 'float32', dims: [width, width], values: square },
      { name: 'axes', dtype: 'int64', dims: [1], values: [1] },
    ],
    nodes,
    metadata: { 'quiver.task': 'regression' },
  });
}

export function blueprintFeatures(values: readonly number[]): Map<string, number> {
  return new Map(values.map((v, i) => [`feature_${i}`, v]));
}

export const BLUEPRINT_ROW = [1.5, 2.3, -0.8, 0.1, -1.2, 0.7, 1.8, -0.3, 2.1, 0.9];
export const BLUEPRINT_ROW_2 = [-1.5, -2.3, 0.8, -0.1, 1.2, -0.7, -1.8, 0.3, -2.1, -0.9];

/** The blueprint's 10 features, y = sum of the row: answers differ from the demo model's. */
export function sumModel(scale = 1): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'features', dtype: 'float32', dims: ['N', 10] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 1] }],
    initializers: [
      { name: 'axes', dtype: 'int64', dims: [1], values: [1] },
      { name: 'scale', dtype: 'float32', dims: [1], values: [scale] },
    ],
    nodes: [
      { opType: 'ReduceSum', inputs: ['features', 'axes'], outputs: ['s'], attributes: { keepdims: { i: 1 } } },
      { opType: 'Mul', inputs: ['s', 'scale'], outputs: ['y'] },
    ],
  });
}

/**
 * A model that spins in onnxruntime: x FP32 [N, 1] is broadcast to [N, width], then a Loop
 * adds 1 to it `trips` times (the default: practically forever) before y = its row sums
 * [N, 1]. With a small width it hangs the runtime with almost no memory; with a large one
 * it also holds two [N, width] tensors the whole time (the trip count depends on nothing
 * constant-foldable, so it runs at session.run, not at load).
 */
export function spinModel(width = 4, trips = 1e15): Uint8Array {
  const body = ModelProto.decode(
    buildOnnxModel({
      inputs: [
        { name: 'i', dtype: 'int64', dims: [] },
        { name: 'cond', dtype: 'bool', dims: [] },
        { name: 'v', dtype: 'float32', dims: ['R', 'C'] },
      ],
      outputs: [
        { name: 'cond_out', dtype: 'bool', dims: [] },
        { name: 'v_out', dtype: 'float32', dims: ['R', 'C'] },
      ],
      initializers: [{ name: 'step', dtype: 'float32', dims: [1], values: [1] }],
      nodes: [
        { opType: 'Identity', inputs: ['cond'], outputs: ['cond_out'] },
        { opType: 'Add', inputs: ['v', 'step'], outputs: ['v_out'] },
      ],
    }),
  ).graph!;
  const outer = ModelProto.decode(
    buildOnnxModel({
      inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 1] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 1] }],
      initializers: [
        { name: 'shape', dtype: 'int64', dims: [2], values: [1, width] },
        { name: 'trips', dtype: 'int64', dims: [], values: [BigInt(trips)] },
        { name: 'keep_going', dtype: 'bool', dims: [], values: [1] },
        { name: 'axes', dtype: 'int64', dims: [1], values: [1] },
      ],
      nodes: [
        { opType: 'Expand', inputs: ['x', 'shape'], outputs: ['wide'] },
        { opType: 'Loop', inputs: ['trips', 'keep_going', 'wide'], outputs: ['spun'] },
        { opType: 'ReduceSum', inputs: ['spun', 'axes'], outputs: ['y'], attributes: { keepdims: { i: 1 } } },
      ],
      metadata: { 'quiver.task': 'regression' },
    }),
  );
  const loop = outer.graph!.node.find((n) => n.opType === 'Loop')!;
  loop.attribute.push({ ...AttributeProto.fromPartial({ name: 'body' }), type: AttributeProto_AttributeType.GRAPH, g: body });
  return ModelProto.encode(outer).finish();
}

/**
 * A model that crashes onnxruntime-node (1.30) outright: INT32_MIN / (x - 1) is an integer
 * division overflow for x = 0 (the trial's sample input), which traps (SIGFPE) on x86-64;
 * onnxruntime checks integer division by zero, not this.
 */
export function divOverflowModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'int32', dims: ['N', 1] }],
    outputs: [{ name: 'y', dtype: 'int32', dims: ['N', 1] }],
    initializers: [
      { name: 'one', dtype: 'int32', dims: [1], values: [1] },
      { name: 'min', dtype: 'int32', dims: [1], values: [-2147483648] },
    ],
    nodes: [
      { opType: 'Sub', inputs: ['x', 'one'], outputs: ['m1'] },
      { opType: 'Div', inputs: ['min', 'm1'], outputs: ['y'] },
    ],
  });
}

/** Loads fine but fails at run time: a [N, 3] input reshaped to [-1, 5] (onnxruntime refuses for N = 1). */
export function reshapeMismatchModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 3] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['M', 5] }],
    initializers: [{ name: 'shape', dtype: 'int64', dims: [2], values: [-1, 5] }],
    nodes: [{ opType: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
    metadata: { 'quiver.task': 'regression' },
  });
}

/** Passes the registry's checks (a valid graph, a servable signature) but onnxruntime has no such operator. */
export function unknownOpModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 2] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 2] }],
    nodes: [{ opType: 'Frobnicate', inputs: ['x'], outputs: ['y'] }],
    metadata: { 'quiver.task': 'regression' },
  });
}

/**
 * The demo model's twin for rollouts: `invert` swaps its answers (every label flipped);
 * `failAbove` makes a batch fail in onnxruntime (a Reshape that cannot be done) whenever one
 * of its rows has feature_0 above it; `tag` only changes the bytes (a distinct artifact).
 */
export function demoVariant(options: { invert?: boolean; failAbove?: number; tag?: string } = {}): Uint8Array {
  const features = Array.from({ length: 10 }, (_, i) => `feature_${i}`);
  const weights = [1, 1, 0.5, 0, 0, 0, 0, 0, 0, 0].map((w) => w * 4 * (options.invert === true ? -1 : 1));
  const guard = options.failAbove !== undefined;
  return buildOnnxModel({
    graphName: `demo_variant_${options.tag ?? 'x'}`,
    inputs: [{ name: 'features', dtype: 'float32', dims: ['batch', 10] }],
    outputs: [
      { name: 'label', dtype: 'int64', dims: ['batch'] },
      { name: 'probabilities', dtype: 'float32', dims: ['batch', 2] },
    ],
    initializers: [
      { name: 'W', dtype: 'float32', dims: [10, 1], values: weights },
      { name: 'B', dtype: 'float32', dims: [1], values: [0] },
      { name: 'one', dtype: 'float32', dims: [1], values: [1] },
      ...(guard
        ? [
            { name: 'col0', dtype: 'int64' as const, dims: [1], values: [0] },
            { name: 'threshold', dtype: 'float32' as const, dims: [1], values: [options.failAbove as number] },
            { name: 'two', dtype: 'int64' as const, dims: [1], values: [2] },
            // 10 x rows is never a multiple of 10,007 (a prime) for the batch sizes served.
            { name: 'big', dtype: 'int64' as const, dims: [1], values: [10_005] },
            { name: 'minus1', dtype: 'int64' as const, dims: [1], values: [-1] },
            { name: 'zero', dtype: 'float32' as const, dims: [1], values: [0] },
          ]
        : []),
    ],
    nodes: [
      { opType: 'MatMul', inputs: ['features', 'W'], outputs: ['xw'] },
      { opType: 'Add', inputs: ['xw', 'B'], outputs: ['logit'] },
      { opType: 'Sigmoid', inputs: ['logit'], outputs: ['p1'] },
      { opType: 'Sub', inputs: ['one', 'p1'], outputs: ['p0'] },
      { opType: 'Concat', inputs: ['p0', 'p1'], outputs: [guard ? 'probs' : 'probabilities'], attributes: { axis: { i: 1 } } },
      ...(guard
        ? [
            { opType: 'Gather', inputs: ['features', 'col0'], outputs: ['x0'], attributes: { axis: { i: 1 } } },
            { opType: 'ReduceMax', inputs: ['x0'], outputs: ['max0'], attributes: { keepdims: { i: 0 } } },
            { opType: 'Greater', inputs: ['max0', 'threshold'], outputs: ['over'] },
            { opType: 'Cast', inputs: ['over'], outputs: ['overi'], attributes: { to: { i: 7 } } },
            { opType: 'Mul', inputs: ['overi', 'big'], outputs: ['extra'] },
            { opType: 'Add', inputs: ['two', 'extra'], outputs: ['width'] },
            { opType: 'Concat', inputs: ['minus1', 'width'], outputs: ['shape'], attributes: { axis: { i: 0 } } },
            { opType: 'Reshape', inputs: ['features', 'shape'], outputs: ['reshaped'] },
            { opType: 'ReduceSum', inputs: ['reshaped'], outputs: ['total'], attributes: { keepdims: { i: 0 } } },
            { opType: 'Mul', inputs: ['total', 'zero'], outputs: ['nothing'] },
            { opType: 'Add', inputs: ['probs', 'nothing'], outputs: ['probabilities'] },
          ]
        : []),
      { opType: 'ArgMax', inputs: ['probabilities'], outputs: ['label'], attributes: { axis: { i: 1 }, keepdims: { i: 0 } } },
    ],
    metadata: {
      'quiver.feature_names': features.join(','),
      'quiver.task': 'classification',
      'quiver.class_labels': '0,1',
      'quiver.probability_output': 'probabilities',
      'quiver.label_output': 'label',
      description: `demo variant ${options.tag ?? ''}`,
    },
  });
}
