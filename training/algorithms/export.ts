/**
 * The ONNX contract every trainer exports, so the server serves all of them alike: one input
 * `features` FLOAT [N, F]; outputs `probabilities` FLOAT [N, 2] = [1 - p, p] and `label` INT64
 * [N] = argmax(probabilities) (derived from the probabilities, never from an ML operator's own
 * label, which can disagree); the quiver.* metadata_props src/core/signature.ts reads.
 * A trainer supplies the nodes that compute one logit column [N, 1] from `features`.
 */
import { buildOnnxModel, type InitializerSpec, type NodeSpec } from '../../src/onnx/builder.js';

export const INPUT_NAME = 'features';
export const PROBABILITY_OUTPUT = 'probabilities';
export const LABEL_OUTPUT = 'label';

export interface LogitGraph {
  readonly algorithm: string;
  readonly featureNames: readonly string[];
  /** Nodes computing `logitName` ([N, 1] float) from `features`. */
  readonly nodes: readonly NodeSpec[];
  readonly initializers: readonly InitializerSpec[];
  readonly logitName: string;
  /** Set when the nodes use ai.onnx.ml operators. */
  readonly mlOpset?: number;
  readonly description: string;
}

export function binaryClassifierOnnx(graph: LogitGraph): Uint8Array {
  const f = graph.featureNames.length;
  if (graph.featureNames.some((n) => n.includes(','))) throw new Error('feature names must not contain commas');
  return buildOnnxModel({
    graphName: `quiver_${graph.algorithm}`,
    inputs: [{ name: INPUT_NAME, dtype: 'float32', dims: ['N', f] }],
    outputs: [
      { name: LABEL_OUTPUT, dtype: 'int64', dims: ['N'] },
      { name: PROBABILITY_OUTPUT, dtype: 'float32', dims: ['N', 2] },
    ],
    initializers: [...graph.initializers, { name: 'head_one', dtype: 'float32', dims: [1], values: [1] }],
    nodes: [
      ...graph.nodes,
      { opType: 'Sigmoid', inputs: [graph.logitName], outputs: ['head_p1'] },
      { opType: 'Sub', inputs: ['head_one', 'head_p1'], outputs: ['head_p0'] },
      { opType: 'Concat', inputs: ['head_p0', 'head_p1'], outputs: [PROBABILITY_OUTPUT], attributes: { axis: { i: 1 } } },
      { opType: 'ArgMax', inputs: [PROBABILITY_OUTPUT], outputs: [LABEL_OUTPUT], attributes: { axis: { i: 1 }, keepdims: { i: 0 } } },
    ],
    ...(graph.mlOpset === undefined ? {} : { mlOpset: graph.mlOpset }),
    metadata: {
      'quiver.feature_names': graph.featureNames.join(','),
      'quiver.task': 'classification',
      'quiver.class_labels': '0,1',
      'quiver.probability_output': PROBABILITY_OUTPUT,
      'quiver.label_output': LABEL_OUTPUT,
      'quiver.algorithm': graph.algorithm,
      description: graph.description,
    },
  });
}

/** The float32 sigmoid output as the trainers report it: computed in float64 from a float32 logit. */
export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}
