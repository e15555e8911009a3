/**
 * Live drift detection for one served model version: a sliding window of the live input rows
 * is compared, feature by feature, with the training profile the version carries in its
 * lineage (`TrainingProfile`, written by `quiver train`, see training/profile.ts).
 *
 * This file is the monitor: options, the window and its running state, the verdict. The two
 * scores per feature, PSI and the Kolmogorov-Smirnov statistic D against its critical value,
 * and the binning they share with training are pure functions in drift-statistics.ts.
 *
 * A feature is drifted when PSI > psiThreshold AND D > critical: PSI alone is noisy on small
 * windows (a few empty bins cost ~0.7 each), KS alone flags differences too small to matter on
 * large ones. The version is drifted when any monitored feature is, and never below
 * `minSamples` live rows (`evaluated: false`).
 *
 * Cost: `observe` is O(features x bins) with no allocation (rings of bin indices and values
 * in preallocated typed arrays, running bin counts); `snapshot` sorts each feature's window
 * (O(window log window) per feature) and is cached until the next `observe`; it also copies
 * each feature's live bin counts, so a snapshot taken stays as it was.
 */
import type { TrainingProfile } from '../gen/quiver/v1/registry.js';
import { binIndex, histogramProblem, ksCriticalValue, ksStatistic, psi } from './drift-statistics.js';

export interface DriftOptions {
  /** Live rows kept per model version (the sliding window). */
  readonly window: number;
  /** No verdict below this many live rows in the window. */
  readonly minSamples: number;
  /** A feature's PSI must exceed this for it to be drifted. */
  readonly psiThreshold: number;
  /** Family-wise significance of the KS tests (split over the monitored features). */
  readonly ksAlpha: number;
}

/**
 * window 500: enough rows for PSI over 10 deciles to be stable (its null mean is about
 * 9 / n = 0.02) while a shift replaces most of the window within a few hundred requests.
 * minSamples 30: below that, one empty decile alone costs PSI 0.69 and D's critical value
 * is 0.45 or more, so there is little to say; the blueprint's Scenario 1 (50 requests) is
 * flagged at the 30th. psiThreshold 0.25: the conventional "significant shift" level, about a
 * 0.5-standard-deviation mean shift of a normal feature. ksAlpha 1e-4: the verdict is read on
 * every scrape, so the tests are repeated while the window fills (30 to ~100 rows, where PSI
 * is too noisy to guard): at 1e-3, about 1 in 170 loads of the blueprint's model raised a
 * false alarm within its first 100 N(0, 1) requests, at 1e-4 about 1 in 2000; a real shift of
 * one standard deviation is still flagged within about 40 rows (100 at worst).
 */
export const DEFAULT_DRIFT_OPTIONS: Readonly<DriftOptions> = Object.freeze({
  window: 500,
  minSamples: 30,
  psiThreshold: 0.25,
  ksAlpha: 1e-4,
});

/** Upper bound on `window`: memory is about window x features x 10 bytes per version. */
export const MAX_DRIFT_WINDOW = 1_000_000;

const OPTION_KEYS: readonly (keyof DriftOptions)[] = ['window', 'minSamples', 'psiThreshold', 'ksAlpha'];

/** Checks complete options; throws an Error naming the first bad option. */
export function validateDriftOptions(options: DriftOptions): void {
  const { window, minSamples, psiThreshold, ksAlpha } = options;
  if (!Number.isInteger(window) || window < 1 || window > MAX_DRIFT_WINDOW) {
    throw new Error(`drift option 'window' must be an integer from 1 to ${MAX_DRIFT_WINDOW}, got ${String(window)}`);
  }
  if (!Number.isInteger(minSamples) || minSamples < 1 || minSamples > window) {
    throw new Error(`drift option 'minSamples' must be an integer from 1 to the window (${window}), got ${String(minSamples)}`);
  }
  if (typeof psiThreshold !== 'number' || !Number.isFinite(psiThreshold) || psiThreshold <= 0) {
    throw new Error(`drift option 'psiThreshold' must be a finite number > 0, got ${String(psiThreshold)}`);
  }
  if (typeof ksAlpha !== 'number' || !(ksAlpha > 0 && ksAlpha < 1)) {
    throw new Error(`drift option 'ksAlpha' must be a number between 0 and 1 (exclusive), got ${String(ksAlpha)}`);
  }
}

/** The defaults overridden by `options` (unknown keys refused), validated and frozen. */
export function resolveDriftOptions(options: Partial<DriftOptions> = {}): Readonly<DriftOptions> {
  for (const key of Object.keys(options)) {
    if (!(OPTION_KEYS as readonly string[]).includes(key)) {
      throw new Error(`unknown drift option '${key}' (known: ${OPTION_KEYS.join(', ')})`);
    }
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<DriftOptions>;
  const resolved: DriftOptions = { ...DEFAULT_DRIFT_OPTIONS, ...defined };
  validateDriftOptions(resolved);
  return Object.freeze(resolved);
}

export interface FeatureDrift {
  readonly name: string;
  readonly psi: number;
  /** The KS statistic D. */
  readonly ks: number;
  /** D's critical value at this window size (Bonferroni-corrected); 1 while the window is empty. */
  readonly ksCritical: number;
  /** min(psi / psiThreshold, ks / ksCritical): above 1 exactly when both tests fire. */
  readonly score: number;
  /** Share of the window outside the training range [p0, p100] (NaN counts as outside). */
  readonly outOfRange: number;
  /** Both tests fire and the window holds at least minSamples rows. */
  readonly drifted: boolean;
  /** The training histogram's bin edges (one more than the bins), from the profile. */
  readonly edges: readonly number[];
  /** Training rows per bin, from the profile. */
  readonly trainingCounts: readonly number[];
  /**
   * Window rows per bin, binned as `binIndex` does (drift-statistics.ts): values outside the
   * training range count in the outer bins (below the first edge and NaN in the first, above
   * the last edge in the last), so these sum to the snapshot's `samples`.
   */
  readonly liveCounts: readonly number[];
}

export interface SkippedFeature {
  readonly name: string;
  readonly reason: string;
}

export interface DriftSnapshot {
  /** Live rows in the window now (min(observed, windowSize)). */
  readonly samples: number;
  readonly windowSize: number;
  /** Live rows observed since the monitor was created. */
  readonly observed: number;
  /** samples >= minSamples and at least one feature is monitored. */
  readonly evaluated: boolean;
  readonly drifted: boolean;
  readonly driftedFeatures: readonly string[];
  /** The monitored features, in the model's feature order. */
  readonly features: readonly FeatureDrift[];
  /** Features of the model that are not monitored, and why. */
  readonly skippedFeatures: readonly SkippedFeature[];
  readonly options: Readonly<DriftOptions>;
}

interface Monitored {
  readonly name: string;
  /** Column of this feature in an observed row. */
  readonly column: number;
  /** Frozen copies of the profile's edges and counts, shared by every snapshot. */
  readonly edges: readonly number[];
  readonly trainCounts: readonly number[];
  readonly trainShares: Float64Array;
  /** Training rows behind the histogram (the sum of its counts). */
  readonly trainRows: number;
  /** Live rows per bin in the window. */
  readonly counts: Int32Array;
  /** Scratch for the live shares (snapshot only). */
  readonly liveShares: Float64Array;
}

/**
 * Drift of one model version's live inputs against its training profile. Create one per
 * served version; call `observe` with every validated input row, `snapshot` when scores are
 * wanted (metrics scrape, /stats, GetStats).
 */
export class DriftMonitor {
  readonly options: Readonly<DriftOptions>;
  /** The row width `observe` expects: the model's feature count. */
  readonly width: number;
  private readonly monitored: readonly Monitored[];
  private readonly skipped: readonly SkippedFeature[];
  private readonly columns: Int32Array;
  private readonly edges: ReadonlyArray<readonly number[]>;
  private readonly counts: readonly Int32Array[];
  private readonly lows: Float64Array;
  private readonly highs: Float64Array;
  /** Rings, row-major (slot * features + feature): the window's values (NaN stored as -Infinity) and bins. */
  private readonly values: Float64Array;
  private readonly bins: Uint16Array;
  private readonly outside: Int32Array;
  private readonly sortScratch: Float64Array;
  private next = 0;
  private filled = 0;
  private total = 0;
  private cached: DriftSnapshot | null = null;

  constructor(profile: TrainingProfile, featureNames: readonly string[], options: Partial<DriftOptions> = {}) {
    this.options = resolveDriftOptions(options);
    this.width = featureNames.length;
    const byName = new Map<string, TrainingProfile['features'][number]>();
    for (const f of profile.features) if (!byName.has(f.name)) byName.set(f.name, f);
    const monitored: Monitored[] = [];
    const skipped: SkippedFeature[] = [];
    featureNames.forEach((name, column) => {
      const f = byName.get(name);
      if (f === undefined) {
        skipped.push({ name, reason: 'the training profile does not describe it' });
        return;
      }
      const problem = histogramProblem(f.histogramEdges, f.histogramCounts);
      if (problem !== null) {
        skipped.push({ name, reason: problem });
        return;
      }
      const total = f.histogramCounts.reduce((a, b) => a + b, 0);
      const bins = f.histogramCounts.length;
      monitored.push({
        name,
        column,
        edges: Object.freeze([...f.histogramEdges]),
        trainCounts: Object.freeze([...f.histogramCounts]),
        trainShares: Float64Array.from(f.histogramCounts, (c) => c / total),
        trainRows: total,
        counts: new Int32Array(bins),
        liveShares: new Float64Array(bins),
      });
    });
    this.monitored = monitored;
    this.skipped = Object.freeze(skipped.map((f) => Object.freeze(f)));
    const m = monitored.length;
    this.columns = Int32Array.from(monitored, (f) => f.column);
    this.edges = monitored.map((f) => f.edges);
    this.counts = monitored.map((f) => f.counts);
    this.lows = Float64Array.from(monitored, (f) => f.edges[0] as number);
    this.highs = Float64Array.from(monitored, (f) => f.edges[f.edges.length - 1] as number);
    const w = this.options.window;
    this.values = new Float64Array(w * m);
    this.bins = new Uint16Array(w * m);
    this.outside = new Int32Array(m);
    this.sortScratch = new Float64Array(w);
  }

  /** Names of the monitored features, in the model's order. */
  get monitoredFeatures(): string[] {
    return this.monitored.map((f) => f.name);
  }

  get skippedFeatures(): readonly SkippedFeature[] {
    return this.skipped;
  }

  /**
   * Adds one live input row: `width` values in the model's feature order, read from
   * `row[offset]` on (so a dense [N, F] batch needs no per-row copies; see observeRows).
   * Hot path: a constant amount of work per feature and no allocation.
   */
  observe(row: ArrayLike<number>, offset = 0): void {
    if (offset < 0 || row.length - offset < this.width) {
      throw new Error(`drift: a row needs ${this.width} values from offset ${offset}, got ${row.length - offset}`);
    }
    const m = this.columns.length;
    if (m === 0) return;
    const base = this.next * m;
    const full = this.filled === this.options.window;
    for (let k = 0; k < m; k++) {
      const slot = base + k;
      const counts = this.counts[k] as Int32Array;
      const lo = this.lows[k] as number;
      const hi = this.highs[k] as number;
      if (full) {
        counts[this.bins[slot] as number]!--;
        const old = this.values[slot] as number;
        if (old < lo || old > hi) this.outside[k]!--;
      }
      const raw = row[offset + (this.columns[k] as number)];
      // NaN (only seen when the server accepts non-finite inputs; a hole in a sparse array
      // too): binIndex puts it in bin 0, so it is stored as -Infinity to sort below
      // everything for KS as well, and counts as out of range.
      const v = raw === undefined || Number.isNaN(raw) ? -Infinity : raw;
      const bin = binIndex(this.edges[k] as readonly number[], v);
      this.values[slot] = v;
      this.bins[slot] = bin;
      counts[bin]!++;
      if (v < lo || v > hi) this.outside[k]!++;
    }
    this.next = this.next + 1 === this.options.window ? 0 : this.next + 1;
    if (!full) this.filled++;
    this.total++;
    this.cached = null;
  }

  /** Adds `rows` rows of a dense row-major [rows, width] buffer. */
  observeRows(data: ArrayLike<number>, rows: number): void {
    if (!Number.isInteger(rows) || rows < 0 || data.length < rows * this.width) {
      throw new Error(`drift: ${rows} rows of ${this.width} need ${rows * this.width} values, got ${data.length}`);
    }
    for (let r = 0; r < rows; r++) this.observe(data, r * this.width);
  }

  /** Scores over the current window (cached until the next observe; do not mutate). */
  snapshot(): DriftSnapshot {
    if (this.cached !== null) return this.cached;
    const { minSamples, psiThreshold, ksAlpha } = this.options;
    const n = this.filled;
    const m = this.monitored.length;
    const evaluated = m > 0 && n >= minSamples;
    // Bonferroni: each feature's test runs at ksAlpha / m.
    const alpha = ksAlpha / Math.max(m, 1);
    const features: FeatureDrift[] = this.monitored.map((f, k) => {
      // Copies: the cached snapshot must not change with the window.
      const histograms = { edges: f.edges, trainingCounts: f.trainCounts, liveCounts: Object.freeze(Array.from(f.counts)) };
      if (n === 0) return { name: f.name, psi: 0, ks: 0, ksCritical: 1, score: 0, outOfRange: 0, drifted: false, ...histograms };
      const critical = ksCriticalValue(alpha, n, f.trainRows);
      for (let b = 0; b < f.counts.length; b++) f.liveShares[b] = (f.counts[b] as number) / n;
      const p = psi(f.trainShares, f.liveShares);
      const sortedWindow = this.sortScratch.subarray(0, n);
      for (let s = 0; s < n; s++) sortedWindow[s] = this.values[s * m + k] as number;
      sortedWindow.sort();
      const d = ksStatistic(f.edges, sortedWindow);
      const score = Math.min(p / psiThreshold, d / critical);
      return {
        name: f.name,
        psi: p,
        ks: d,
        ksCritical: critical,
        score,
        outOfRange: (this.outside[k] as number) / n,
        drifted: evaluated && p > psiThreshold && d > critical,
        ...histograms,
      };
    });
    const driftedFeatures = features.filter((f) => f.drifted).map((f) => f.name);
    const snapshot: DriftSnapshot = {
      samples: n,
      windowSize: this.options.window,
      observed: this.total,
      evaluated,
      drifted: driftedFeatures.length > 0,
      driftedFeatures: Object.freeze(driftedFeatures),
      features: Object.freeze(features.map((f) => Object.freeze(f))),
      skippedFeatures: this.skipped,
      options: this.options,
    };
    this.cached = Object.freeze(snapshot);
    return this.cached;
  }
}
