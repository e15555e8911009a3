import test from 'ava';

import { python } from './helpers/python.js';

import { deriveSignature } from '../src/core/signature.js';
import { readOnnxModelInfo } from '../src/onnx/model-info.js';
import { gbdt } from '../training/algorithms/gbdt.js';
import { ALGORITHMS, ALGORITHM_NAMES } from '../training/algorithms/index.js';
import { logistic } from '../training/algorithms/logistic.js';
import { mlp } from '../training/algorithms/mlp.js';
import { generateDataset, SHIFTED } from '../training/data/generate.js';
import { takeRows } from '../training/matrix.js';
import { accuracy, labelsFromProba } from '../training/metrics.js';
import { checkParity } from '../training/parity.js';
import { Random } from '../training/random.js';
import { splitIndices } from '../training/split.js';

interface Data {
  readonly names: string[];
  readonly Xtr: number[][];
  readonly ytr: number[];
  readonly Xte: number[][];
  readonly yte: number[];
}

function splitData(rows: readonly (readonly number[])[], f: number): Data {
  const X = rows.map((r) => r.slice(0, f));
  const y = rows.map((r) => r[f]!);
  const s = splitIndices(X.length, { holdout: 0.2, seed: 1, stratify: y });
  return {
    names: Array.from({ length: f }, (_, i) => `feature_${i}`),
    Xtr: takeRows(X, s.train),
    ytr: takeRows(y, s.train),
    Xte: takeRows(X, s.holdout),
    yte: takeRows(y, s.holdout),
  };
}

/** The blueprint's 1000 rows. */
const blueprint = splitData(generateDataset().rows, 10);

/** A target no linear model can learn: the sign of feature_0 * feature_1, with 8 noise features. */
function xorData(rows: number, seed: number): Data {
  const rng = new Random(seed);
  const data = Array.from({ length: rows }, () => {
    const x = Array.from({ length: 10 }, () => rng.normal(0, 1));
    return [...x, x[0]! * x[1]! > 0 ? 1 : 0];
  });
  return splitData(data, 10);
}
const xor = xorData(1000, 4);

test('logistic regression matches scikit-learn LogisticRegression (lbfgs, same C) to 1e-3 and learns the blueprint rule', async (t) => {
  const Cs = [1, 0.05];
  const ours = Cs.map((C) => logistic.train(blueprint.Xtr, blueprint.ytr, { C }));
  const sk = await python<{ coef: number[]; intercept: number; proba: number[] }[]>(
    `
import json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
d = json.load(sys.stdin)
out = []
for C in d['Cs']:
    m = LogisticRegression(C=C, solver='lbfgs', tol=1e-10, max_iter=10000).fit(np.array(d['Xtr']), np.array(d['ytr']))
    out.append({'coef': m.coef_[0].tolist(), 'intercept': float(m.intercept_[0]), 'proba': m.predict_proba(np.array(d['Xte']))[:, 1].tolist()})
print(json.dumps(out))
`,
    { Cs, ...blueprint },
  );
  ours.forEach((model, k) => {
    const ref = sk[k]!;
    t.true(model.converged);
    const coefDiff = Math.max(...model.weights.map((w, j) => Math.abs(w - ref.coef[j]!)), Math.abs(model.bias - ref.intercept));
    t.true(coefDiff < 1e-3, `C=${Cs[k]}: max coefficient difference ${coefDiff}`);
    const proba = logistic.predictProba(model, blueprint.Xte);
    const probaDiff = Math.max(...proba.map((p, i) => Math.abs(p - ref.proba[i]!)));
    t.true(probaDiff < 1e-3, `C=${Cs[k]}: max probability difference ${probaDiff}`);
    t.log(`C=${Cs[k]}: max |coef - sklearn| ${coefDiff.toExponential(2)}, max |p - sklearn| ${probaDiff.toExponential(2)}`);
  });
  const acc = accuracy(blueprint.yte, labelsFromProba(logistic.predictProba(ours[0]!, blueprint.Xte)));
  t.true(acc > 0.95, `holdout accuracy ${acc}`);
});

test('gradient-boosted trees score within a few points of scikit-learn GradientBoostingClassifier with the same hyper-parameters', async (t) => {
  const params = { nEstimators: 100, learningRate: 0.1, maxDepth: 3, minSamplesLeaf: 1 };
  const sets = { blueprint, xor };
  const sk = await python<Record<string, number>>(
    `
import json, sys
import numpy as np
from sklearn.ensemble import GradientBoostingClassifier
d = json.load(sys.stdin)
p = d['params']
out = {}
for name, s in d['sets'].items():
    m = GradientBoostingClassifier(n_estimators=p['nEstimators'], learning_rate=p['learningRate'], max_depth=p['maxDepth'],
                                   min_samples_leaf=p['minSamplesLeaf'], random_state=0).fit(np.array(s['Xtr']), np.array(s['ytr']))
    out[name] = float(m.score(np.array(s['Xte']), np.array(s['yte'])))
print(json.dumps(out))
`,
    { params, sets },
  );
  for (const [name, data] of Object.entries(sets)) {
    const model = gbdt.train(data.Xtr, data.ytr, params);
    t.is(model.trees.length, 100);
    const acc = accuracy(data.yte, labelsFromProba(gbdt.predictProba(model, data.Xte)));
    t.log(`${name}: holdout accuracy ${acc}, sklearn ${sk[name]}`);
    t.true(Math.abs(acc - sk[name]!) <= 0.03, `${name}: ours ${acc}, sklearn ${sk[name]}`);
    t.true(acc > 0.85, `${name}: accuracy ${acc}`);
  }
});

test('the MLP learns a non-linear (XOR-like) target that logistic regression cannot', (t) => {
  const model = mlp.train(xor.Xtr, xor.ytr);
  const acc = accuracy(xor.yte, labelsFromProba(mlp.predictProba(model, xor.Xte)));
  t.log(`MLP holdout accuracy ${acc}`);
  t.true(acc > 0.9, `MLP holdout accuracy ${acc}`);
  const linear = accuracy(xor.yte, labelsFromProba(logistic.predictProba(logistic.train(xor.Xtr, xor.ytr), xor.Xte)));
  t.log(`logistic holdout accuracy on XOR ${linear}`);
  t.true(linear < 0.7, `logistic holdout accuracy ${linear}`);
  const two = mlp.train(xor.Xtr, xor.ytr, { hidden: [16, 8] });
  t.is(two.layers.length, 3);
  const acc2 = accuracy(xor.yte, labelsFromProba(mlp.predictProba(two, xor.Xte)));
  t.true(acc2 > 0.9, `two-layer MLP holdout accuracy ${acc2}`);
});

for (const name of ALGORITHM_NAMES) {
  test(`${name}: the exported ONNX matches the trainer within 1e-5 in onnxruntime, on the blueprint and shifted data`, async (t) => {
    const trainer = ALGORITHMS[name] as (typeof ALGORITHMS)['logistic'];
    const started = performance.now();
    const model = trainer.train([...blueprint.Xtr, ...blueprint.Xte], [...blueprint.ytr, ...blueprint.yte]);
    const ms = performance.now() - started;
    t.true(ms < 5000, `training 1000 rows took ${ms} ms`);
    const onnx = trainer.toOnnx(model, blueprint.names);
    const shifted = generateDataset({ ...SHIFTED, rows: 300 }).rows.map((r) => r.slice(0, 10));
    for (const X of [blueprint.Xtr, blueprint.Xte, shifted]) {
      const parity = await checkParity(onnx, X, trainer.predictProba(model, X));
      t.true(parity.passed, JSON.stringify(parity));
      t.log(`max |onnx - trainer| ${parity.maxAbsDiff.toExponential(2)} over ${parity.rows} rows`);
      t.true(parity.maxAbsDiff <= 1e-5);
      t.is(parity.labelMismatches, 0);
    }
    // A wrong expectation fails the check.
    const wrong = trainer.predictProba(model, blueprint.Xte).map((p, i) => (i === 0 ? p + 1e-3 : p));
    t.false((await checkParity(onnx, blueprint.Xte, wrong)).passed);
  });
}

test('the exports follow the serving contract: features FLOAT [N, F] in, label INT64 [N] and probabilities FLOAT [N, 2] out, quiver metadata', (t) => {
  const models = {
    logistic: logistic.toOnnx(logistic.train(blueprint.Xtr, blueprint.ytr), blueprint.names),
    gbdt: gbdt.toOnnx(gbdt.train(blueprint.Xtr, blueprint.ytr, { nEstimators: 5 }), blueprint.names),
    mlp: mlp.toOnnx(mlp.train(blueprint.Xtr, blueprint.ytr, { epochs: 2 }), blueprint.names),
  };
  for (const [name, bytes] of Object.entries(models)) {
    const info = readOnnxModelInfo(bytes);
    t.deepEqual(info.inputs, [{ name: 'features', elemType: 1, dims: [-1, 10] }], name);
    t.deepEqual(
      info.outputs,
      [
        { name: 'label', elemType: 7, dims: [-1] },
        { name: 'probabilities', elemType: 1, dims: [-1, 2] },
      ],
      name,
    );
    t.like(info.metadata, {
      'quiver.feature_names': blueprint.names.join(','),
      'quiver.task': 'classification',
      'quiver.class_labels': '0,1',
      'quiver.probability_output': 'probabilities',
      'quiver.label_output': 'label',
      'quiver.algorithm': name,
    });
    const signature = deriveSignature(info);
    t.like(signature, { task: 'classification', probabilityOutput: 'probabilities', labelOutput: 'label', batchable: true });
    t.deepEqual(signature.featureNames, blueprint.names);
  }
});

test("the exports pass onnx.checker.check_model(full_check=True) (Debian's python3-onnx)", async (t) => {
  const models = {
    logistic: logistic.toOnnx(logistic.train(blueprint.Xtr, blueprint.ytr), blueprint.names),
    gbdt: gbdt.toOnnx(gbdt.train(blueprint.Xtr, blueprint.ytr, { nEstimators: 10 }), blueprint.names),
    mlp: mlp.toOnnx(mlp.train(blueprint.Xtr, blueprint.ytr, { epochs: 2, hidden: [8, 4] }), blueprint.names),
  };
  const result = await python<Record<string, string>>(
    `
import base64, json, sys
import onnx
out = {}
for name, b64 in json.load(sys.stdin).items():
    try:
        onnx.checker.check_model(onnx.load_from_string(base64.b64decode(b64)), full_check=True)
        out[name] = 'ok'
    except Exception as e:
        out[name] = str(e)
print(json.dumps(out))
`,
    Object.fromEntries(Object.entries(models).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  );
  t.deepEqual(result, { logistic: 'ok', gbdt: 'ok', mlp: 'ok' });
});

test('training is deterministic per seed, reports progress to the end, and rejects bad parameters', (t) => {
  for (const name of ALGORITHM_NAMES) {
    const trainer = ALGORITHMS[name] as (typeof ALGORITHMS)['logistic'];
    const calls: [number, number][] = [];
    const a = trainer.toOnnx(
      trainer.train(blueprint.Xtr, blueprint.ytr, {}, (done, total) => calls.push([done, total])),
      blueprint.names,
    );
    const b = trainer.toOnnx(trainer.train(blueprint.Xtr, blueprint.ytr), blueprint.names);
    t.deepEqual(a, b, `${name} is deterministic`);
    t.true(calls.length > 0, name);
    const last = calls[calls.length - 1]!;
    t.is(last[0], last[1], `${name} ends at total`);
    for (let i = 1; i < calls.length; i++) t.true(calls[i]![0] >= calls[i - 1]![0], `${name} progress is monotone`);
    t.throws(() => trainer.train(blueprint.Xtr, blueprint.ytr, { nope: 1 } as never), {
      message: new RegExp(`${name}: unknown parameter 'nope'`),
    });
    const twos = blueprint.ytr.map(() => 2);
    const ones = blueprint.ytr.map(() => 1);
    t.throws(() => trainer.train(blueprint.Xtr, twos), { message: /0 or 1/ });
    t.throws(() => trainer.train(blueprint.Xtr, ones), { message: /single class/ });
  }
  const sub = (seed: number): Uint8Array =>
    gbdt.toOnnx(gbdt.train(blueprint.Xtr, blueprint.ytr, { subsample: 0.5, nEstimators: 10, seed }), blueprint.names);
  t.deepEqual(sub(1), sub(1));
  t.notDeepEqual(sub(1), sub(2));
  t.notDeepEqual(
    mlp.toOnnx(mlp.train(blueprint.Xtr, blueprint.ytr, { epochs: 3, seed: 1 }), blueprint.names),
    mlp.toOnnx(mlp.train(blueprint.Xtr, blueprint.ytr, { epochs: 3, seed: 2 }), blueprint.names),
  );
  t.throws(() => logistic.train(blueprint.Xtr, blueprint.ytr, { C: -1 }), { message: /C must be > 0/ });
  t.throws(() => gbdt.train(blueprint.Xtr, blueprint.ytr, { learningRate: 'fast' } as never), {
    message: /learningRate' must be a finite number/,
  });
  t.throws(() => mlp.train(blueprint.Xtr, blueprint.ytr, { hidden: [4, 4, 4] }), { message: /one or two/ });
  t.throws(() => logistic.toOnnx(logistic.train(blueprint.Xtr, blueprint.ytr), ['a', 'b']), { message: /2 feature names/ });
});
