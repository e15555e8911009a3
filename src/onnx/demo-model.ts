/**
 * The demo model `npm start` serves: a logistic regression for the blueprint's target
 * `feature_0 + feature_1 + 0.5 * feature_2 > 0` over 10 features. Outputs follow the
 * scikit-learn/ONNX convention: `label` (int64 [N]) and `probabilities` (float [N, 2]).
 */
import { buildOnnxModel } from './builder.js';

export const DEMO_MODEL_NAME = 'production-model';
export const DEMO_FEATURES = Array.from({ length: 10 }, (_, i) => `feature_${i}`);

/** Logit scale: large enough that clear cases get confident probabilities. */
const SCALE = 4;
export const DEMO_WEIGHTS = [1, 1, 0.5, 0, 0, 0, 0, 0, 0, 0].map((w) => w * SCALE);
export const DEMO_BIAS = 0;

export function buildDemoModel(): Uint8Array {
  return buildOnnxModel({
    graphName: 'blueprint_logistic_regression',
    inputs: [{ name: 'features', dtype: 'float32', dims: ['batch', DEMO_FEATURES.length] }],
    outputs: [
      { name: 'label', dtype: 'int64', dims: ['batch'] },
      { name: 'probabilities', dtype: 'float32', dims: ['batch', 2] },
    ],
    initializers: [
      { name: 'W', dtype: 'float32', dims: [DEMO_FEATURES.length, 1], values: DEMO_WEIGHTS },
      { name: 'B', dtype: 'float32', dims: [1], values: [DEMO_BIAS] },
      { name: 'one', dtype: 'float32', dims: [1], values: [1] },
    ],
    nodes: [
      { opType: 'MatMul', inputs: ['features', 'W'], outputs: ['xw'] },
      { opType: 'Add', inputs: ['xw', 'B'], outputs: ['logit'] },
      { opType: 'Sigmoid', inputs: ['logit'], outputs: ['p1'] },
      { opType: 'Sub', inputs: ['one', 'p1'], outputs: ['p0'] },
      { opType: 'Concat', inputs: ['p0', 'p1'], outputs: ['probabilities'], attributes: { axis: { i: 1 } } },
      {
        opType: 'ArgMax',
        inputs: ['probabilities'],
        outputs: ['label'],
        attributes: { axis: { i: 1 }, keepdims: { i: 0 } },
      },
    ],
    metadata: {
      'quiver.feature_names': DEMO_FEATURES.join(','),
      'quiver.task': 'classification',
      'quiver.class_labels': '0,1',
      'quiver.probability_output': 'probabilities',
      'quiver.label_output': 'label',
      description: 'Blueprint demo: logistic regression for feature_0 + feature_1 + 0.5*feature_2 > 0',
    },
  });
}
