/**
 * Prometheus series bound once per label set, for the per-request path. prom-client's child
 * observers (`histogram.labels(...).observe`, `counter.labels(...).inc`) rebuild, validate and
 * hash the label set on every call: 0.5 to 0.6 µs each in a tight loop, more on the request
 * path, which made five such calls per REST /predict (perf on the machine of
 * docs/benchmarks.md). A bound series keeps its numbers in plain fields and hands them to
 * prom-client when the registry is read, so names, labels and the text format stay
 * prom-client's. Hand-written because prom-client has no bound observer.
 */
import { Counter, Histogram, type HistogramConfiguration, type LabelValues } from 'prom-client';

/** One histogram series: cumulative only when exported. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string | number>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    // prom-client throws on a value that is not finite; a metric must never fail a request.
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += value;
    this.count++;
  }

  /**
   * The series as prom-client's histogram exports one (its getForPromString value shape);
   * nothing before the first observation, as prom-client creates a series on first use.
   */
  exported(name: string): ExportedValue[] {
    const out: ExportedValue[] = [];
    if (this.count === 0) return out;
    let acc = 0;
    this.bounds.forEach((le, i) => {
      acc += this.counts[i] as number;
      out.push({ labels: { le }, sharedLabels: this.labels, value: acc, metricName: `${name}_bucket`, exemplar: null });
    });
    out.push(
      { labels: { le: '+Inf' }, sharedLabels: this.labels, value: this.count, metricName: `${name}_bucket`, exemplar: null },
      { labels: {}, sharedLabels: this.labels, value: this.sum, metricName: `${name}_sum`, exemplar: undefined },
      { labels: {}, sharedLabels: this.labels, value: this.count, metricName: `${name}_count`, exemplar: undefined },
    );
    return out;
  }
}

interface ExportedValue {
  labels: Record<string, string | number>;
  sharedLabels: Readonly<Record<string, string | number>>;
  value: number;
  metricName: string;
  /** As prom-client sets it: null on buckets, undefined on the sum and count (no exemplars here). */
  exemplar: null | undefined;
}

interface Exported {
  values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string; sharedLabels?: object }>;
}

/** prom-client's registry reads a histogram's text through this method (15.x: registry.js). */
const baseGetForPromString = (Histogram.prototype as unknown as { getForPromString(this: Histogram): Promise<Exported> }).getForPromString;

/**
 * A prom-client Histogram that also exports the series bound with `bind`, in the same shape
 * as its own: the registry's text and JSON show both.
 */
export class BoundHistogram<T extends string> extends Histogram<T> {
  private readonly bound = new Set<HistogramSeries>();
  private readonly upper: readonly number[];

  constructor(config: HistogramConfiguration<T> & { buckets: number[] }) {
    super(config);
    this.upper = [...config.buckets].sort((a, b) => a - b);
  }

  /** A series for `labels`, exported until `unbind`. Bind each label set once. */
  bind(labels: LabelValues<T>): HistogramSeries {
    const series = new HistogramSeries(this.upper, { ...labels } as Record<string, string | number>);
    this.bound.add(series);
    return series;
  }

  unbind(series: HistogramSeries): void {
    this.bound.delete(series);
  }

  /** The registry's read: text directly, JSON through prom-client's get(), which calls this. */
  async getForPromString(): Promise<Exported> {
    const data = await baseGetForPromString.call(this);
    for (const series of this.bound) data.values.push(...series.exported(nameOf(this)));
    return data;
  }
}

/** A metric's name (prom-client sets it; its typings do not declare it). */
const nameOf = (metric: object): string => (metric as { readonly name: string }).name;

/** One counter series: increments add to a field until the registry is read. */
export class CounterSeries {
  /** Counted since the last read. */
  pending = 0;

  constructor(readonly labels: Readonly<Record<string, string | number>>) {}

  inc(by: number): void {
    this.pending += by;
  }
}

/** A prom-client Counter whose bound series are folded in (with its own inc) whenever it is read. */
export class BoundCounter<T extends string> extends Counter<T> {
  private readonly bound = new Set<CounterSeries>();

  bind(labels: LabelValues<T>): CounterSeries {
    const series = new CounterSeries({ ...labels } as Record<string, string | number>);
    this.bound.add(series);
    return series;
  }

  /** Folds what the series counted in, then stops following it; the counter keeps its value. */
  unbind(series: CounterSeries): void {
    this.fold(series);
    this.bound.delete(series);
  }

  override async get(): Promise<Awaited<ReturnType<Counter<T>['get']>>> {
    for (const series of this.bound) this.fold(series);
    return super.get();
  }

  private fold(series: CounterSeries): void {
    if (series.pending === 0) return;
    this.inc(series.labels as LabelValues<T>, series.pending);
    series.pending = 0;
  }
}
