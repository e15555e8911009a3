/**
 * Gradient-boosted decision trees for binary log loss, the algorithm of scikit-learn's
 * GradientBoostingClassifier: start from the prior log-odds, then each stage fits a
 * depth-limited regression tree to the residuals y - p (squared-error splits) and sets each
 * leaf to one Newton step, sum(y - p) / sum(p (1 - p)), scaled by the learning rate.
 *
 * Float32 parity: splits are searched on float32-rounded features with float32 thresholds
 * that separate the float32 values, leaf values are stored as float32, and predictProba
 * sums them in float32 in tree order, as onnxruntime's TreeEnsembleRegressor does.
 */
import { invalidArgument } from '../../src/core/errors.js';
import { type Matrix, assertBinaryLabels, width } from '../matrix.js';
import { Random } from '../random.js';
import { binaryClassifierOnnx, sigmoid } from './export.js';
import { type ProgressFn, type Trainer, requirePositive, requirePositiveInt, resolveParams } from './trainer.js';

export interface GbdtParams {
  /** Boosting stages (trees), default 100. */
  readonly nEstimators: number;
  /** Shrinkage applied to each tree, default 0.1. */
  readonly learningRate: number;
  /** Depth of each tree (depth 3 = up to 8 leaves), default 3. */
  readonly maxDepth: number;
  /** Fewest training rows a leaf may hold, default 1. */
  readonly minSamplesLeaf: number;
  /** Fewest rows a node needs to be split, default 2. */
  readonly minSamplesSplit: number;
  /** Fraction of rows each tree sees (stochastic boosting when < 1), default 1. */
  readonly subsample: number;
  /** Seed for subsampling. */
  readonly seed: number;
}

/** One tree as parallel arrays, node 0 the root; a leaf has feature -1. */
export interface Tree {
  readonly feature: number[];
  /** float32 thresholds; a row goes left when x <= threshold. */
  readonly threshold: number[];
  readonly left: number[];
  readonly right: number[];
  /** Leaf outputs, learning rate included, float32 values. */
  readonly value: number[];
}

export interface GbdtModel {
  readonly algorithm: 'gbdt';
  readonly params: GbdtParams;
  readonly nFeatures: number;
  /** The prior log-odds, float32. */
  readonly baseScore: number;
  readonly trees: Tree[];
}

const NAME = 'gbdt';
const defaults: GbdtParams = {
  nEstimators: 100,
  learningRate: 0.1,
  maxDepth: 3,
  minSamplesLeaf: 1,
  minSamplesSplit: 2,
  subsample: 1,
  seed: 42,
};

function leafOf(tree: Tree, x: ArrayLike<number>): number {
  let node = 0;
  while (tree.feature[node]! >= 0) {
    node = (x[tree.feature[node]!] as number) <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
  }
  return node;
}

interface SplitChoice {
  gain: number;
  feature: number;
  threshold: number;
}

function train(X: Matrix, y: readonly number[], given?: Partial<GbdtParams>, onProgress?: ProgressFn): GbdtModel {
  const params = resolveParams(NAME, defaults, given);
  requirePositiveInt(NAME, 'nEstimators', params.nEstimators);
  requirePositive(NAME, 'learningRate', params.learningRate);
  requirePositiveInt(NAME, 'maxDepth', params.maxDepth);
  requirePositiveInt(NAME, 'minSamplesLeaf', params.minSamplesLeaf);
  requirePositiveInt(NAME, 'minSamplesSplit', params.minSamplesSplit);
  if (!(params.subsample > 0 && params.subsample <= 1))
    throw invalidArgument(`${NAME}: subsample must be in (0, 1], got ${params.subsample}`);
  assertBinaryLabels(X, y);
  const f = width(X);
  const n = X.length;
  // Rows as the model will see them at serving time: float32.
  const rows = X.map((row) => Float32Array.from(row as ArrayLike<number>));
  const cols = Array.from({ length: f }, (_, j) => Float32Array.from(rows, (r) => r[j]!));
  // Rows sorted once per feature; a node's rows are read off these orders, in order.
  const order = cols.map((c) => Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => c[a]! - c[b]!));

  const positives = y.reduce((a, b) => a + b, 0);
  const baseScore = Math.fround(Math.log(positives / (n - positives)));
  const raw = new Float64Array(n).fill(baseScore);
  const residual = new Float64Array(n);
  const hessian = new Float64Array(n);
  const mark = new Int32Array(n).fill(-1);
  let stamp = 0;
  const rng = new Random(params.seed);
  const trees: Tree[] = [];

  const bestSplit = (members: number[]): SplitChoice | null => {
    const m = members.length;
    stamp++;
    let total = 0;
    for (const i of members) {
      mark[i] = stamp;
      total += residual[i]!;
    }
    const parent = (total * total) / m;
    let best: SplitChoice | null = null;
    const minLeaf = params.minSamplesLeaf;
    for (let j = 0; j < f; j++) {
      const col = cols[j]!;
      const ord = order[j]!;
      let k = 0;
      let sumLeft = 0;
      let prev = NaN;
      for (let idx = 0; idx < n; idx++) {
        const i = ord[idx]!;
        if (mark[i] !== stamp) continue;
        const x = col[i]!;
        // Candidate boundary between the previous value and this one (k rows on the left).
        if (k >= minLeaf && m - k >= minLeaf && x > prev) {
          const sumRight = total - sumLeft;
          const gain = (sumLeft * sumLeft) / k + (sumRight * sumRight) / (m - k) - parent;
          if (gain > 1e-12 && (best === null || gain > best.gain)) {
            // The midpoint in float32, unless it rounds up to x: then prev itself separates them.
            const mid = Math.fround((prev + x) / 2);
            best = { gain, feature: j, threshold: mid < x ? mid : prev };
          }
        }
        sumLeft += residual[i]!;
        prev = x;
        k++;
      }
    }
    return best;
  };

  for (let t = 0; t < params.nEstimators; t++) {
    for (let i = 0; i < n; i++) {
      const p = sigmoid(raw[i]!);
      residual[i] = (y[i] as number) - p;
      hessian[i] = p * (1 - p);
    }
    let bag = Array.from({ length: n }, (_, i) => i);
    if (params.subsample < 1) bag = rng.shuffle(bag).slice(0, Math.max(1, Math.round(params.subsample * n)));
    const tree: Tree = { feature: [], threshold: [], left: [], right: [], value: [] };
    const grow = (members: number[], depth: number): number => {
      const id = tree.feature.length;
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.left.push(-1);
      tree.right.push(-1);
      tree.value.push(0);
      const split =
        depth < params.maxDepth && members.length >= params.minSamplesSplit && members.length >= 2 * params.minSamplesLeaf
          ? bestSplit(members)
          : null;
      if (split === null) {
        let num = 0;
        let den = 0;
        for (const i of members) {
          num += residual[i]!;
          den += hessian[i]!;
        }
        // scikit-learn's guard: a leaf of saturated rows gets no update.
        tree.value[id] = Math.fround(params.learningRate * (Math.abs(den) < 1e-150 ? 0 : num / den));
        return id;
      }
      const col = cols[split.feature]!;
      tree.feature[id] = split.feature;
      tree.threshold[id] = split.threshold;
      const leftRows = members.filter((i) => col[i]! <= split.threshold);
      const rightRows = members.filter((i) => col[i]! > split.threshold);
      tree.left[id] = grow(leftRows, depth + 1);
      tree.right[id] = grow(rightRows, depth + 1);
      return id;
    };
    grow(bag, 0);
    trees.push(tree);
    for (let i = 0; i < n; i++) raw[i]! += tree.value[leafOf(tree, rows[i]!)]!;
    onProgress?.(t + 1, params.nEstimators);
  }
  return { algorithm: 'gbdt', params, nFeatures: f, baseScore, trees };
}

function predictProba(model: GbdtModel, X: Matrix): number[] {
  return X.map((row) => {
    if (row.length !== model.nFeatures) throw new Error(`row has ${row.length} features, the model ${model.nFeatures}`);
    const x = Float32Array.from(row as ArrayLike<number>);
    let acc = 0;
    for (const tree of model.trees) acc = Math.fround(acc + tree.value[leafOf(tree, x)]!);
    return sigmoid(Math.fround(acc + model.baseScore));
  });
}

/** A TreeEnsembleRegressor (ai.onnx.ml) computing the raw score; the shared head turns it into probabilities. */
function toOnnx(model: GbdtModel, featureNames: readonly string[]): Uint8Array {
  if (featureNames.length !== model.nFeatures) {
    throw new Error(`${featureNames.length} feature names for a model of ${model.nFeatures} features`);
  }
  const nodes = {
    treeIds: [] as number[],
    nodeIds: [] as number[],
    featureIds: [] as number[],
    values: [] as number[],
    modes: [] as string[],
    trueIds: [] as number[],
    falseIds: [] as number[],
  };
  const targets = { treeIds: [] as number[], nodeIds: [] as number[], ids: [] as number[], weights: [] as number[] };
  model.trees.forEach((tree, t) => {
    tree.feature.forEach((feature, id) => {
      const leaf = feature < 0;
      nodes.treeIds.push(t);
      nodes.nodeIds.push(id);
      nodes.featureIds.push(leaf ? 0 : feature);
      nodes.values.push(leaf ? 0 : tree.threshold[id]!);
      nodes.modes.push(leaf ? 'LEAF' : 'BRANCH_LEQ');
      nodes.trueIds.push(leaf ? 0 : tree.left[id]!);
      nodes.falseIds.push(leaf ? 0 : tree.right[id]!);
      if (leaf) {
        targets.treeIds.push(t);
        targets.nodeIds.push(id);
        targets.ids.push(0);
        targets.weights.push(tree.value[id]!);
      }
    });
  });
  return binaryClassifierOnnx({
    algorithm: NAME,
    featureNames,
    initializers: [],
    nodes: [
      {
        opType: 'TreeEnsembleRegressor',
        domain: 'ai.onnx.ml',
        inputs: ['features'],
        outputs: ['logit'],
        attributes: {
          n_targets: { i: 1 },
          aggregate_function: { s: 'SUM' },
          post_transform: { s: 'NONE' },
          base_values: { floats: [model.baseScore] },
          nodes_treeids: { ints: nodes.treeIds },
          nodes_nodeids: { ints: nodes.nodeIds },
          nodes_featureids: { ints: nodes.featureIds },
          nodes_values: { floats: nodes.values },
          nodes_modes: { strings: nodes.modes },
          nodes_truenodeids: { ints: nodes.trueIds },
          nodes_falsenodeids: { ints: nodes.falseIds },
          target_treeids: { ints: targets.treeIds },
          target_nodeids: { ints: targets.nodeIds },
          target_ids: { ints: targets.ids },
          target_weights: { floats: targets.weights },
        },
      },
    ],
    logitName: 'logit',
    mlOpset: 3,
    description: `gradient-boosted trees (${model.trees.length} trees, depth ${model.params.maxDepth}) trained by Quiver`,
  });
}

export const gbdt: Trainer<GbdtParams, GbdtModel> = { name: NAME, defaults, train, predictProba, toOnnx };
