/**
 * Live quality: each version's accuracy (classifiers) or mean absolute error (regressors)
 * over its logged predictions that have an outcome, with a 95% confidence interval. The sums
 * come from the registry's database, so every replica reports the same figure, whichever
 * replica logged a prediction and whichever heard its outcome. Refreshed on a timer, and soon
 * after this replica records outcomes; read (never computed) by /metrics and /stats.
 */
import type { Logger } from 'pino';

import type { PredictionStore, QualitySums } from './prediction-store.js';

export interface LiveFigure {
  readonly metric: 'accuracy' | 'mae';
  readonly value: number;
  readonly samples: number;
  readonly ciLow: number;
  readonly ciHigh: number;
  /** Whether samples reached the minimum for alerts and rollout checks. */
  readonly sufficient: boolean;
}

/** The normal quantile of a two-sided 95% interval. */
const Z95 = 1.959963984540054;

/** Wilson's score interval for `successes` of `n`: sound at small n and near 0 and 1, unlike the normal one. */
export function wilsonInterval(successes: number, n: number, z = Z95): { low: number; high: number } {
  if (n <= 0) return { low: 0, high: 1 };
  const p = successes / n;
  const z2 = z * z;
  const denominator = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denominator;
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

/** The figure of one version's sums: accuracy for classifiers, the MAE (normal interval) otherwise. */
export function liveFigure(sums: QualitySums, classifier: boolean, minSamples: number): LiveFigure {
  const n = sums.samples;
  const sufficient = n >= minSamples;
  if (classifier) {
    const { low, high } = wilsonInterval(sums.correct, n);
    return { metric: 'accuracy', value: n === 0 ? 0 : sums.correct / n, samples: n, ciLow: low, ciHigh: high, sufficient };
  }
  const mae = n === 0 ? 0 : sums.absErrorSum / n;
  const variance = n > 1 ? Math.max(0, (sums.sqErrorSum - n * mae * mae) / (n - 1)) : 0;
  // One error says nothing of the spread: the interval is then unbounded above (the largest double, as JSON has no Infinity).
  const half = n > 1 ? (Z95 * Math.sqrt(variance)) / Math.sqrt(n) : Number.MAX_VALUE;
  return {
    metric: 'mae',
    value: mae,
    samples: n,
    ciLow: Math.max(0, mae - half),
    ciHigh: Math.min(Number.MAX_VALUE, mae + half),
    sufficient,
  };
}

export interface LiveQualityOptions {
  readonly minSamples: number;
  /** Outcomes of predictions logged this long ago or less count. */
  readonly windowMs: number;
  readonly refreshMs: number;
}

const key = (name: string, version: number): string => `${name}\u0000${version}`;

export class LiveQuality {
  private figures = new Map<string, LiveFigure>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: PredictionStore,
    /** Whether the version is a classifier; undefined when this server does not serve it. */
    private readonly classifier: (name: string, version: number) => boolean | undefined,
    private readonly options: LiveQualityOptions,
    private readonly log: Logger,
  ) {}

  /** The version's figure, once any of its predictions has an outcome. */
  figure(name: string, version: number): LiveFigure | undefined {
    return this.figures.get(key(name, version));
  }

  /** Every figure of a served version. */
  all(): Array<{ name: string; version: number; figure: LiveFigure }> {
    return [...this.figures].map(([k, figure]) => {
      const [name, version] = k.split('\u0000') as [string, string];
      return { name, version: Number(version), figure };
    });
  }

  /** Re-reads the sums now (one refresh at a time). */
  refresh(): Promise<void> {
    this.running ??= this.read().finally(() => (this.running = undefined));
    return this.running;
  }

  private async read(): Promise<void> {
    try {
      const sums = await this.store.quality(Date.now() - this.options.windowMs);
      const next = new Map<string, LiveFigure>();
      for (const s of sums) {
        const classifier = this.classifier(s.modelName, s.version);
        if (classifier !== undefined) next.set(key(s.modelName, s.version), liveFigure(s, classifier, this.options.minSamples));
      }
      this.figures = next;
    } catch (err) {
      this.log.warn({ err }, 'live quality could not be read from the registry; keeping the last figures');
    }
  }

  /** Refreshes within a moment (outcomes just arrived); many calls make one refresh. */
  refreshSoon(): void {
    if (this.soon !== undefined) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      void this.refresh();
    }, 50);
    this.soon.unref();
  }

  start(): void {
    if (this.timer !== undefined) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.soon !== undefined) clearTimeout(this.soon);
    this.timer = undefined;
    this.soon = undefined;
    await this.running;
  }
}
