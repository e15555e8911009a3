/**
 * Live drift detection (src/monitoring/drift.ts) against the training profile of the
 * blueprint's model: the same data (generateDataset), the same split and profile as `quiver
 * train`, and the profile in its registry (proto) form, encoded and decoded as the registry
 * stores it.
 */
import test from 'ava';

import { python } from './helpers/python.js';

import { TrainingProfile as WireProfile } from '../src/gen/quiver/v1/registry.js';
import {
  DEFAULT_DRIFT_OPTIONS,
  DriftMonitor,
  type DriftOptions,
  type DriftSnapshot,
  resolveDriftOptions,
  validateDriftOptions,
} from '../src/monitoring/drift.js';
import { binIndex, ksCriticalValue, profileCdf } from '../src/monitoring/drift-statistics.js';
import { featureNames, generateDataset } from '../training/data/generate.js';
import { type TrainingProfile, trainingProfile } from '../training/profile.js';
import { Random } from '../training/random.js';
import { splitIndices } from '../training/split.js';

const NAMES = featureNames(10);

/** The profile's registry form, as lineageOf (src/registry/register-training.ts) builds it, through the wire. */
function toWire(profile: TrainingProfile): WireProfile {
  const wire = WireProfile.fromPartial({
    rows: profile.rows,
    features: profile.featureNames.map((name) => {
      const f = profile.features[name]!;
      return {
        name,
        mean: f.mean,
        std: f.std,
        min: f.min,
        max: f.max,
        quantileLevels: profile.quantileLevels,
        quantiles: f.quantiles,
        histogramEdges: f.histogram.edges,
        histogramCounts: f.histogram.counts,
      };
    }),
  });
  return WireProfile.decode(WireProfile.encode(wire).finish());
}

/** The blueprint's model: 1000 rows (seed 42), the trainer's stratified 80/20 split (seed 42), the training rows profiled. */
const TRAIN_ROWS: number[][] = (() => {
  const ds = generateDataset();
  const y = ds.rows.map((r) => r[10]!);
  const split = splitIndices(ds.rows.length, { holdout: 0.2, seed: 42, stratify: y });
  return split.train.map((i) => ds.rows[i]!.slice(0, 10));
})();
const PROFILE = toWire(trainingProfile(NAMES, TRAIN_ROWS));
const feature = (name: string): WireProfile['features'][number] => PROFILE.features.find((f) => f.name === name)!;

const normalRow = (rng: Random): number[] => NAMES.map(() => rng.normal());
const first = (names: readonly string[], n: number): string[] => names.slice(0, n);

test('the profile is the blueprint model: 800 training rows, 10 features, decile histograms', (t) => {
  t.is(PROFILE.rows, 800);
  t.deepEqual(
    PROFILE.features.map((f) => f.name),
    NAMES,
  );
  for (const f of PROFILE.features) {
    t.is(f.histogramEdges.length, 11);
    t.is(
      f.histogramCounts.reduce((a, b) => a + b, 0),
      800,
    );
  }
  const m = new DriftMonitor(PROFILE, NAMES);
  t.deepEqual(m.monitoredFeatures, NAMES);
  t.deepEqual(m.skippedFeatures, []);
});

test('blueprint Scenario 1 (features 0-4 = 999, 5-9 = 0) is flagged within 50 requests', (t) => {
  const m = new DriftMonitor(PROFILE, NAMES);
  const row = NAMES.map((_, j) => (j < 5 ? 999 : 0));
  let flaggedAt = -1;
  let snap: DriftSnapshot | undefined;
  for (let i = 1; i <= 50 && flaggedAt < 0; i++) {
    m.observe(row);
    snap = m.snapshot();
    t.is(snap.evaluated, i >= DEFAULT_DRIFT_OPTIONS.minSamples, `request ${i}`);
    if (snap.drifted) flaggedAt = i;
  }
  t.true(flaggedAt > 0 && flaggedAt <= 50, `first flagged at request ${flaggedAt}`);
  t.is(flaggedAt, DEFAULT_DRIFT_OPTIONS.minSamples, 'flagged as soon as a verdict is allowed');
  const s = snap!;
  // Features 0-4: every value beyond the training maximum.
  for (const f of s.features.slice(0, 5)) {
    t.true(f.drifted, f.name);
    t.is(f.ks, 1, f.name);
    t.is(f.outOfRange, 1, f.name);
    t.true(f.psi > 8, `${f.name} psi ${f.psi}`);
  }
  // Features 5-9: a constant 0 is inside the training range but is not N(0, 1) either (a point
  // mass at the median: D = max(F(0), 1 - F(0)) ~ 0.5 and all live rows in one decile), so
  // both tests flag them too. `outOfRange` tells the two kinds apart.
  for (const f of s.features.slice(5)) {
    const f0 = profileCdf(feature(f.name).histogramEdges, 0);
    t.true(f.drifted, f.name);
    t.is(f.outOfRange, 0, f.name);
    t.true(Math.abs(f.ks - Math.max(f0, 1 - f0)) < 1e-12, `${f.name} ks ${f.ks}`);
  }
  t.deepEqual(s.driftedFeatures, NAMES);
});

test('Scenario 1 with the other features normal: exactly features 0-4 are flagged, within 50 requests', (t) => {
  const rng = new Random(2024);
  const m = new DriftMonitor(PROFILE, NAMES);
  let flaggedAt = -1;
  for (let i = 1; i <= 50; i++) {
    m.observe(NAMES.map((_, j) => (j < 5 ? 999 : rng.normal())));
    const s = m.snapshot();
    if (s.drifted && flaggedAt < 0) flaggedAt = i;
    if (s.drifted) t.deepEqual(s.driftedFeatures, first(NAMES, 5), `request ${i}`);
  }
  t.true(flaggedAt > 0 && flaggedAt <= 50, `first flagged at request ${flaggedAt}`);
});

test('blueprint Flow 2 (100 requests, every feature N(0, 1)) is never flagged: 200 seeds, every request', (t) => {
  const alarms: string[] = [];
  let evaluations = 0;
  let maxScore = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const rng = new Random(10_000 + seed);
    const m = new DriftMonitor(PROFILE, NAMES);
    for (let i = 1; i <= 100; i++) {
      m.observe(normalRow(rng));
      const s = m.snapshot();
      if (!s.evaluated) continue;
      evaluations++;
      for (const f of s.features) maxScore = Math.max(maxScore, f.score);
      if (s.drifted) alarms.push(`seed ${seed}, request ${i}: ${s.driftedFeatures.join(', ')}`);
    }
  }
  t.is(evaluations, 200 * 71, 'a verdict at every request from the 30th');
  t.deepEqual(alarms, []);
  t.true(maxScore < 1, `max score ${maxScore}`);
});

test('a one-standard-deviation mean shift on one feature is flagged within the window, on that feature only', (t) => {
  const f3 = feature('feature_3');
  const flaggedAt: number[] = [];
  for (let seed = 1; seed <= 20; seed++) {
    const rng = new Random(20_000 + seed);
    const m = new DriftMonitor(PROFILE, NAMES);
    let at = -1;
    for (let i = 1; i <= DEFAULT_DRIFT_OPTIONS.window; i++) {
      const row = normalRow(rng);
      row[3] = rng.normal(f3.mean + f3.std, f3.std);
      m.observe(row);
      const s = m.snapshot();
      if (s.drifted && at < 0) at = i;
      if (s.drifted) t.deepEqual(s.driftedFeatures, ['feature_3'], `seed ${seed}, request ${i}`);
    }
    t.true(at > 0, `seed ${seed} never flagged`);
    t.true(m.snapshot().drifted, `seed ${seed}: flagged on a full window`);
    flaggedAt.push(at);
  }
  t.log(`first flagged at request ${flaggedAt.join(', ')}`);
});

test('the window slides: a window of normal traffic after drifted traffic clears the flag', (t) => {
  const rng = new Random(7);
  const m = new DriftMonitor(PROFILE, NAMES);
  const fresh = new DriftMonitor(PROFILE, NAMES);
  for (let i = 0; i < 300; i++) m.observe(NAMES.map((_, j) => (j < 5 ? 999 : rng.normal())));
  t.deepEqual(m.snapshot().driftedFeatures, first(NAMES, 5));
  const normal = Array.from({ length: DEFAULT_DRIFT_OPTIONS.window }, () => normalRow(rng));
  normal.forEach((row, i) => {
    m.observe(row);
    fresh.observe(row);
    // 300 drifted rows stay in the window until 200 normal ones have pushed the first out.
    if (i + 1 === 100) t.deepEqual(m.snapshot().driftedFeatures, first(NAMES, 5), 'still drifted with 200 of 500 rows at 999');
  });
  const s = m.snapshot();
  t.false(s.drifted);
  t.deepEqual(s.driftedFeatures, []);
  t.is(s.samples, 500);
  t.is(s.observed, 800);
  // Nothing of the drifted rows is left: the scores are those of the normal rows alone.
  t.deepEqual(s.features, fresh.snapshot().features);
  t.true(
    s.features.every((f) => f.outOfRange < 0.01),
    'the 999s are gone',
  );
});

test('below minSamples there is no verdict, however extreme the traffic; an empty monitor scores 0', (t) => {
  const m = new DriftMonitor(PROFILE, NAMES, { minSamples: 40 });
  const empty = m.snapshot();
  t.false(empty.evaluated);
  t.is(empty.samples, 0);
  t.true(empty.features.every((f) => f.psi === 0 && f.ks === 0 && !f.drifted));
  for (let i = 1; i < 40; i++) {
    m.observe(NAMES.map(() => 999));
    const s = m.snapshot();
    t.false(s.evaluated);
    t.false(s.drifted);
    t.deepEqual(s.driftedFeatures, []);
    t.true(
      s.features.every((f) => f.ks === 1 && f.psi > DEFAULT_DRIFT_OPTIONS.psiThreshold),
      'scores are still reported',
    );
  }
  m.observe(NAMES.map(() => 999));
  t.true(m.snapshot().evaluated);
  t.true(m.snapshot().drifted);
});

test('the training rows themselves: PSI is exactly 0 (live bins are the profile bins), KS small, nothing drifted', (t) => {
  const m = new DriftMonitor(PROFILE, NAMES, { window: TRAIN_ROWS.length });
  for (const row of TRAIN_ROWS) m.observe(row);
  const s = m.snapshot();
  for (const f of s.features) {
    t.is(f.psi, 0, f.name);
    // Only the linear interpolation inside each decile separates the two CDFs: both rise by
    // 1/10 across a decile, so they differ by at most that (plus one row).
    t.true(f.ks <= 0.1 + 1 / 800, `${f.name} ks ${f.ks}`);
    t.true(f.ks < f.ksCritical, `${f.name} ks ${f.ks}`);
    t.is(f.outOfRange, 0);
  }
  t.false(s.drifted);
});

/** Whether Debian's python3 has scipy (python3-sklearn pulls it in; numpy is required by the suite). */
async function hasScipy(): Promise<boolean> {
  return python<boolean>('import importlib.util, json; print(json.dumps(importlib.util.find_spec("scipy") is not None))', null);
}

test('PSI, KS and the critical value agree with numpy (and scipy.stats.kstest when installed)', async (t) => {
  const rng = new Random(99);
  const window = 300;
  const m = new DriftMonitor(PROFILE, NAMES, { window });
  const rows: number[][] = [];
  for (let i = 0; i < 420; i++) {
    // Shifted, wider, with a few values beyond the training range, and some exact ties.
    const row = NAMES.map((_, j) => rng.normal(0.1 * j, 1 + 0.05 * j));
    if (i % 37 === 0) row[2] = 8;
    if (i % 41 === 0) row[4] = -7;
    if (i % 5 === 0) row[6] = 0.5;
    rows.push(row);
    m.observe(row);
  }
  const s = m.snapshot();
  const live = rows.slice(-window);
  const scipy = await hasScipy();
  t.log(scipy ? 'reference: numpy and scipy' : 'reference: numpy (scipy not installed)');
  const ref = await python<{ psi: number[]; ks: number[]; kstest: number[] | null; c: number | null }>(
    `
import json, sys
import numpy as np
d = json.load(sys.stdin)
psi, ks, kstest = [], [], []
try:
    from scipy import stats
except ImportError:
    stats = None
for f, x in zip(d["features"], d["live"]):
    edges = np.array(f["edges"]); counts = np.array(f["counts"], dtype=float); x = np.array(x)
    e = np.maximum(counts / counts.sum(), 1e-4)
    bins = np.searchsorted(edges[1:-1], x, side="right")
    a = np.maximum(np.bincount(bins, minlength=len(counts)) / len(x), 1e-4)
    psi.append(float(np.sum((a - e) * np.log(a / e))))
    cdf = lambda v: np.interp(v, edges, np.linspace(0, 1, len(edges)), left=0.0, right=1.0)
    xs = np.sort(x); n = len(xs); F = cdf(xs)
    # Ties: the empirical CDF at a value counts all copies (its last index), just before it none (its first).
    hi = np.searchsorted(xs, xs, side="right") / n; lo = np.searchsorted(xs, xs, side="left") / n
    ks.append(float(max(np.max(hi - F), np.max(F - lo))))
    if stats is not None:
        kstest.append(float(stats.kstest(x, cdf).statistic))
c = float(stats.kstwobign.isf(d["alpha"])) if stats is not None else None
print(json.dumps({"psi": psi, "ks": ks, "kstest": kstest if stats is not None else None, "c": c}))
`,
    {
      features: PROFILE.features.map((f) => ({ edges: f.histogramEdges, counts: f.histogramCounts })),
      live: NAMES.map((_, j) => live.map((r) => r[j])),
      alpha: DEFAULT_DRIFT_OPTIONS.ksAlpha / NAMES.length,
    },
  );
  s.features.forEach((f, j) => {
    t.true(Math.abs(f.psi - ref.psi[j]!) < 1e-9 * Math.max(1, ref.psi[j]!), `${f.name} psi ${f.psi} vs ${ref.psi[j]}`);
    t.true(Math.abs(f.ks - ref.ks[j]!) < 1e-12, `${f.name} ks ${f.ks} vs ${ref.ks[j]}`);
    // scipy assumes a continuous sample; the tied feature_6 is checked against the numpy formula only.
    if (ref.kstest !== null && f.name !== 'feature_6') t.true(Math.abs(f.ks - ref.kstest[j]!) < 1e-12, `${f.name} vs kstest`);
  });
  t.true(s.features.some((f) => f.drifted) && s.features.some((f) => !f.drifted), 'the sample exercises both verdicts');
  // The critical value: c(alpha') * sqrt(1/n + 1/N), alpha' = ksAlpha / 10, n = 300, N = 800.
  const alpha = DEFAULT_DRIFT_OPTIONS.ksAlpha / 10;
  const c = Math.sqrt(-Math.log(alpha / 2) / 2);
  for (const f of s.features) t.true(Math.abs(f.ksCritical - c * Math.sqrt(1 / window + 1 / 800)) < 1e-12);
  // c(a) is the Kolmogorov distribution's upper a-quantile (its first-term approximation is exact to ~a^3 here).
  if (ref.c !== null) t.true(Math.abs(c - ref.c) < 1e-9, `c ${c} vs kstwobign ${ref.c}`);
  for (const f of s.features) {
    t.is(f.score, Math.min(f.psi / DEFAULT_DRIFT_OPTIONS.psiThreshold, f.ks / f.ksCritical));
    t.is(f.drifted, f.psi > DEFAULT_DRIFT_OPTIONS.psiThreshold && f.ks > f.ksCritical);
  }
});

test('a discrete feature (repeated decile edges, uneven counts, ties) scores as a brute-force computation does', (t) => {
  // Training: 0 (55%), 1 (25%), 2 (15%), 5 (5%); live: 0 (30%), 1 (30%), 2 (30%), 3 (10%).
  const draw = (rng: Random, shares: readonly [number, number][]): number => {
    let u = rng.next();
    for (const [v, p] of shares) if ((u -= p) < 0) return v;
    return shares[shares.length - 1]![0];
  };
  const rng = new Random(5);
  const train = Array.from({ length: 1000 }, () => [
    draw(rng, [
      [0, 0.55],
      [1, 0.25],
      [2, 0.15],
      [5, 0.05],
    ]),
  ]);
  const profile = toWire(trainingProfile(['x'], train));
  const { histogramEdges: edges, histogramCounts: counts } = profile.features[0]!;
  t.true(new Set(edges).size < edges.length, `repeated edges ${edges.join(' ')}`);
  t.true(counts.some((c) => c === 0) && counts.some((c) => c > 200), `uneven counts ${counts.join(' ')}`);

  // Fed the training column itself, PSI is exactly 0: the training shares are the profile's counts, not 10% each.
  const same = new DriftMonitor(profile, ['x'], { window: 1000 });
  for (const row of train) same.observe(row);
  t.is(same.snapshot().features[0]!.psi, 0);

  const m = new DriftMonitor(profile, ['x'], { window: 200 });
  const live = Array.from({ length: 200 }, () =>
    draw(rng, [
      [0, 0.3],
      [1, 0.3],
      [2, 0.3],
      [3, 0.1],
    ]),
  );
  for (const v of live) m.observe([v]);
  const f = m.snapshot().features[0]!;

  // PSI by hand: bins counted by comparing with the inner edges, shares floored at 1e-4.
  const bins = edges.length - 1;
  const liveCounts = new Array<number>(bins).fill(0);
  for (const v of live) liveCounts[edges.slice(1, -1).filter((e) => v >= e).length]!++;
  const total = counts.reduce((a, b) => a + b, 0);
  let psi = 0;
  for (let b = 0; b < bins; b++) {
    const e = Math.max(counts[b]! / total, 1e-4);
    const a = Math.max(liveCounts[b]! / live.length, 1e-4);
    psi += (a - e) * Math.log(a / e);
  }
  t.true(Math.abs(f.psi - psi) < 1e-12, `psi ${f.psi} vs ${psi}`);

  // KS by brute force: the training CDF as a sum of per-decile ramps (a zero-width decile is a step),
  // compared with the empirical CDF on a fine grid and just below and at every live value.
  const cdf = (x: number): number => {
    let sum = 0;
    for (let k = 0; k < bins; k++) {
      const lo = edges[k]!;
      const hi = edges[k + 1]!;
      sum += hi === lo ? (x >= lo ? 1 : 0) : Math.min(1, Math.max(0, (x - lo) / (hi - lo)));
    }
    return sum / bins;
  };
  const ecdf = (x: number): number => live.filter((v) => v <= x).length / live.length;
  const points = [...new Set(live)].flatMap((v) => [v, v - 1e-9]);
  for (let x = -1; x <= 7; x += 0.001) points.push(x);
  const d = Math.max(...points.map((x) => Math.abs(ecdf(x) - cdf(x))));
  t.true(Math.abs(f.ks - d) < 1e-6, `ks ${f.ks} vs brute force ${d}`);
  t.true(f.drifted, `psi ${f.psi}, ks ${f.ks} > ${f.ksCritical}`);
});

test('profileCdf: 0 below the first edge, 1 from the last, linear between, jumps at repeated edges', (t) => {
  const edges = [0, 1, 1, 1, 2, 4];
  t.is(profileCdf(edges, -0.5), 0);
  t.is(profileCdf(edges, 0), 0);
  t.is(profileCdf(edges, 0.5), 0.1);
  t.is(profileCdf(edges, 1, true), 0.2);
  t.is(profileCdf(edges, 1), 0.6);
  t.is(profileCdf(edges, 1.5), 0.7);
  t.is(profileCdf(edges, 3), 0.9);
  t.is(profileCdf(edges, 4, true), 1);
  t.is(profileCdf(edges, 4), 1);
  t.is(profileCdf(edges, Infinity), 1);
  t.is(profileCdf(edges, -Infinity, true), 0);
  // A constant training feature: a single step.
  t.is(profileCdf([3, 3, 3], 2.9), 0);
  t.is(profileCdf([3, 3, 3], 3), 1);
  t.is(profileCdf([3, 3, 3], 3, true), 0);
});

test('option defaults, overrides and validation messages that name the option', (t) => {
  t.deepEqual({ ...resolveDriftOptions() }, { ...DEFAULT_DRIFT_OPTIONS });
  t.deepEqual({ ...resolveDriftOptions({ window: 1000, ksAlpha: 0.01 }) }, { ...DEFAULT_DRIFT_OPTIONS, window: 1000, ksAlpha: 0.01 });
  t.deepEqual({ ...resolveDriftOptions({ window: undefined }) }, { ...DEFAULT_DRIFT_OPTIONS }, 'undefined keeps the default');
  t.true(Object.isFrozen(resolveDriftOptions()));
  const bad: [Partial<DriftOptions> & Record<string, unknown>, RegExp][] = [
    [{ window: 0 }, /^drift option 'window' must be an integer from 1 to 1000000, got 0$/],
    [{ window: 2.5 }, /'window' .* got 2\.5/],
    [{ window: 2_000_000 }, /'window' .* got 2000000/],
    [{ window: NaN }, /'window' .* got NaN/],
    [{ minSamples: 0 }, /^drift option 'minSamples' must be an integer from 1 to the window \(500\), got 0$/],
    [{ window: 20, minSamples: 30 }, /'minSamples' .* \(20\), got 30/],
    [{ psiThreshold: 0 }, /^drift option 'psiThreshold' must be a finite number > 0, got 0$/],
    [{ psiThreshold: -1 }, /'psiThreshold' .* got -1/],
    [{ psiThreshold: Infinity }, /'psiThreshold' .* got Infinity/],
    [{ ksAlpha: 0 }, /^drift option 'ksAlpha' must be a number between 0 and 1 \(exclusive\), got 0$/],
    [{ ksAlpha: 1 }, /'ksAlpha' .* got 1/],
    [{ ksAlpha: NaN }, /'ksAlpha' .* got NaN/],
    [{ ksAlpha: '0.01' as unknown as number }, /'ksAlpha' .* got 0\.01/],
    [{ windw: 100 }, /^unknown drift option 'windw' \(known: window, minSamples, psiThreshold, ksAlpha\)$/],
  ];
  for (const [options, message] of bad) {
    t.throws(() => resolveDriftOptions(options), { message }, JSON.stringify(options));
    t.throws(() => new DriftMonitor(PROFILE, NAMES, options), { message });
  }
  t.throws(() => validateDriftOptions({ ...DEFAULT_DRIFT_OPTIONS, minSamples: 501 }), { message: /'minSamples'/ });
  t.notThrows(() => validateDriftOptions(DEFAULT_DRIFT_OPTIONS));
});

test('features without a usable profile are skipped and reported; features are matched by name', (t) => {
  const wire = toWire(trainingProfile(NAMES, TRAIN_ROWS));
  wire.features = wire.features.filter((f) => f.name !== 'feature_9');
  wire.features.find((f) => f.name === 'feature_8')!.histogramEdges = [];
  wire.features.find((f) => f.name === 'feature_8')!.histogramCounts = [];
  wire.features.find((f) => f.name === 'feature_7')!.histogramEdges = [0, 1];
  // The model lists its features in another order than the profile (and has one the profile lacks).
  const order = [...NAMES].reverse();
  const m = new DriftMonitor(wire, order);
  t.deepEqual(m.skippedFeatures, [
    { name: 'feature_9', reason: 'the training profile does not describe it' },
    { name: 'feature_8', reason: 'its training profile has no histogram' },
    { name: 'feature_7', reason: 'its training histogram has 2 edges for 10 counts' },
  ]);
  t.deepEqual(m.monitoredFeatures, first(order, 10).slice(3));
  const reference = new DriftMonitor(PROFILE, NAMES.slice(0, 7));
  const rng = new Random(3);
  for (let i = 0; i < 200; i++) {
    const row = normalRow(rng);
    row[1] = row[1]! + 2;
    m.observe([...row].reverse());
    reference.observe(row.slice(0, 7));
  }
  const s = m.snapshot();
  t.deepEqual(s.skippedFeatures, m.skippedFeatures);
  t.deepEqual(s.driftedFeatures, ['feature_1']);
  // Same scores as a model of just those 7 features (Bonferroni over the 7 monitored ones).
  t.deepEqual(
    [...s.features].sort((a, b) => a.name.localeCompare(b.name)),
    [...reference.snapshot().features],
  );
  t.is(s.features[0]!.ksCritical, ksCriticalValue(DEFAULT_DRIFT_OPTIONS.ksAlpha / 7, 200, 800));

  // No profile at all for the model's features: nothing monitored, never evaluated.
  const none = new DriftMonitor({ rows: 0, features: [] }, ['a', 'b']);
  none.observe([1, 2]);
  t.deepEqual(none.monitoredFeatures, []);
  t.false(none.snapshot().evaluated);
  t.is(none.snapshot().skippedFeatures.length, 2);
});

test('observeRows reads a dense [N, F] buffer (Float32Array) like row-by-row observe; short rows are refused', (t) => {
  const rng = new Random(11);
  const dense = new Float32Array(64 * 10);
  for (let i = 0; i < dense.length; i++) dense[i] = rng.normal(0.5);
  const a = new DriftMonitor(PROFILE, NAMES, { window: 50 });
  const b = new DriftMonitor(PROFILE, NAMES, { window: 50 });
  a.observeRows(dense, 64);
  for (let r = 0; r < 64; r++) b.observe(Array.from(dense.subarray(r * 10, r * 10 + 10)));
  t.deepEqual(a.snapshot(), b.snapshot());
  t.is(a.snapshot().samples, 50);
  t.is(a.snapshot().observed, 64);
  t.throws(() => a.observe([1, 2, 3]), { message: 'drift: a row needs 10 values from offset 0, got 3' });
  t.throws(() => a.observe(dense, dense.length - 5), { message: /a row needs 10 values from offset 635, got 5/ });
  t.throws(() => a.observeRows(dense, 65), { message: 'drift: 65 rows of 10 need 650 values, got 640' });
});

test('snapshots are cached until the next observe and frozen; NaN counts as below the training range', (t) => {
  const m = new DriftMonitor(PROFILE, NAMES);
  const rng = new Random(1);
  for (let i = 0; i < 40; i++) m.observe(normalRow(rng));
  const s = m.snapshot();
  t.is(m.snapshot(), s);
  t.true(Object.isFrozen(s) && Object.isFrozen(s.features) && Object.isFrozen(s.features[0]));
  m.observe(NAMES.map(() => NaN));
  const after = m.snapshot();
  t.not(after, s);
  t.is(after.samples, 41);
  t.is(after.features[0]!.outOfRange, 1 / 41);
  t.false(Number.isNaN(after.features[0]!.psi) || Number.isNaN(after.features[0]!.ks));
});

test("snapshots carry each feature's training histogram and the window's counts over its bins, copied", (t) => {
  const window = 50;
  const m = new DriftMonitor(PROFILE, NAMES, { window });
  const empty = m.snapshot();
  for (const f of empty.features) {
    t.deepEqual(f.edges, feature(f.name).histogramEdges);
    t.deepEqual(f.trainingCounts, feature(f.name).histogramCounts);
    t.deepEqual(f.liveCounts, new Array<number>(f.edges.length - 1).fill(0));
  }
  const rng = new Random(21);
  const rows: number[][] = [];
  for (let i = 0; i < 70; i++) {
    const row = normalRow(rng);
    // Outside the training range: above it, below it, NaN; and exactly on the outer edges.
    if (i % 7 === 0) row[0] = 999;
    if (i % 11 === 0) row[1] = -999;
    if (i % 13 === 0) row[2] = NaN;
    if (i % 5 === 0) row[3] = feature('feature_3').histogramEdges[10]!;
    if (i % 6 === 0) row[4] = feature('feature_4').histogramEdges[0]!;
    rows.push(row);
    m.observe(row);
  }
  const s = m.snapshot();
  const live = rows.slice(-window);
  s.features.forEach((f, j) => {
    const edges = feature(f.name).histogramEdges;
    t.deepEqual(f.edges, edges, f.name);
    t.deepEqual(f.trainingCounts, feature(f.name).histogramCounts, f.name);
    // binIndex's bins: values outside the range (and NaN) in the outer bins, so every row counts.
    const expected = new Array<number>(edges.length - 1).fill(0);
    for (const row of live) expected[binIndex(edges, row[j]!)]!++;
    t.deepEqual(f.liveCounts, expected, f.name);
    t.is(
      f.liveCounts.reduce((a, b) => a + b, 0),
      s.samples,
      f.name,
    );
    t.true(Object.isFrozen(f.edges) && Object.isFrozen(f.trainingCounts) && Object.isFrozen(f.liveCounts), f.name);
  });
  const last = (xs: readonly number[]): number => xs[xs.length - 1]!;
  const outside = (j: number, test: (v: number) => boolean): number => live.filter((r) => test(r[j]!)).length;
  t.true(outside(0, (v) => v === 999) > 0);
  t.true(last(s.features[0]!.liveCounts) >= outside(0, (v) => v === 999), '999 in the last bin');
  t.true(s.features[1]!.liveCounts[0]! >= outside(1, (v) => v === -999), '-999 in the first bin');
  t.true(s.features[2]!.liveCounts[0]! >= outside(2, Number.isNaN), 'NaN in the first bin');
  // The snapshot keeps its counts while the window moves on (they are copies).
  const before = s.features.map((f) => [...f.liveCounts]);
  for (let i = 0; i < window; i++) m.observe(NAMES.map(() => 999));
  t.deepEqual(
    s.features.map((f) => [...f.liveCounts]),
    before,
  );
  const after = m.snapshot();
  for (const f of after.features) t.is(last(f.liveCounts), window, f.name);
});

// observe() cost is not timed here (no timing tests): it is O(features x bins) and writes only into
// typed arrays preallocated in the constructor (value and bin rings, running bin counts), with
// no per-call allocation; see the class comment in src/monitoring/drift.ts.
