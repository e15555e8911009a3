/** ONNX models built in TypeScript for the tests, written to a temp directory. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
export function regressorModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'float64', dims: ['N', 2] }],
    outputs: [{ name: 'y', dtype: 'float64', dims: ['N', 1] }],
    initializers: [
      { name: 'W', dtype: 'float64', dims: [2, 1], values: [2, -1] },
      { name: 'B', dtype: 'float64', dims: [1], values: [0.5] },
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
