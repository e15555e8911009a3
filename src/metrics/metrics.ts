/**
 * The server's Prometheus metrics (prom-client) and per-version statistics. Metric and label
 * names follow the blueprint (ml_*) and Prometheus conventions (quiver_*); every label value
 * is bounded: model names and versions of loaded models only, status codes by name.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

import { Code } from '../core/errors.js';
import type { DropReason, ObserverFactory, VersionInfo, VersionObserver } from '../core/observer.js';
import type { HostTensor } from '../core/tensor.js';
import { BoundCounter, BoundHistogram } from './bound-series.js';
import { VersionStats } from './version-stats.js';

/** 50 µs to 10 s: sub-millisecond answers are the point of the server. */
export const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];

/** Drift detection for one version (src/monitoring/drift.ts implements it). */
export interface DriftTracker {
  /** Rows of a dense row-major [rows, features] input; no allocation per call. */
  observeRows(data: ArrayLike<number>, rows: number): void;
  /** The current verdict. Sorts the window: call it on scrape or on /stats, not per request. */
  snapshot(): {
    readonly features: ReadonlyArray<{
      readonly name: string;
      readonly psi: number;
      readonly ks: number;
      readonly drifted: boolean;
      /** The training histogram's bin edges, its rows per bin, and the window's rows per bin (same bins). */
      readonly edges: readonly number[];
      readonly trainingCounts: readonly number[];
      readonly liveCounts: readonly number[];
    }>;
    readonly drifted: boolean;
    readonly samples: number;
    readonly evaluated: boolean;
  };
}

export type DriftFactory = (info: VersionInfo) => DriftTracker | undefined;

export interface VersionTelemetry {
  readonly name: string;
  readonly version: number;
  readonly stats: VersionStats;
  readonly drift: DriftTracker | undefined;
  readonly info: VersionInfo;
  /** The batching policy now (VersionObserver.batchPlan): rows per batch, seconds a partial batch may wait. */
  plan: { rows: number; holdSeconds: number };
}

export class ServingMetrics {
  readonly registry = new Registry();
  private readonly predictions: BoundCounter<'model' | 'version' | 'status' | 'code'>;
  private readonly latency: BoundHistogram<'model' | 'version'>;
  private readonly driftScore: Gauge<'model' | 'version' | 'feature'>;
  private readonly drifted: Gauge<'model' | 'version'>;
  private readonly accuracy: Gauge<'model' | 'version'>;
  private readonly queueWait: BoundHistogram<'model' | 'version'>;
  private readonly batchSize: BoundHistogram<'model' | 'version'>;
  private readonly inference: BoundHistogram<'model' | 'version' | 'lane'>;
  private readonly dropped: Counter<'model' | 'version' | 'reason'>;
  private readonly loads: Counter<'model' | 'result'>;
  private readonly versions = new Map<string, VersionTelemetry>();
  private aggregated: (() => Promise<string>) | undefined;
  readonly started = Date.now();

  constructor(
    /** false: keep the statistics (/stats) but update no Prometheus series (the benchmark's baseline). */
    private readonly enabled: boolean,
    private readonly driftFactory: DriftFactory = () => undefined,
    gauges: {
      queueDepth?: () => Array<{ model: string; version: number; rows: number }>;
      pool?: () => { inflight: number; capacity: number };
      /** Calls refused at the server-wide in-flight cap (src/core/inflight-cap.ts) so far. */
      inflightRefused?: () => number;
    } = {},
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    // Summed over a multi-process server's processes (cluster-metrics.ts), the busiest event
    // loop is the one that limits: its lag, not prom-client's default average.
    for (const m of this.registry.getMetricsAsArray()) if (m.name.startsWith('nodejs_eventloop_lag')) m.aggregator = 'max';
    this.predictions = new BoundCounter({
      name: 'ml_predictions_total',
      help: 'Predictions (instances) answered, by model version and status (ok or error) with the gRPC code',
      labelNames: ['model', 'version', 'status', 'code'],
      registers,
    });
    this.latency = new BoundHistogram({
      name: 'ml_prediction_latency_seconds',
      help: 'Server time per prediction call, from the request reaching the core to the answer',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    const telemetry = (): VersionTelemetry[] => this.telemetry();
    // Drift verdicts are computed when Prometheus scrapes, never on the request path.
    this.driftScore = new Gauge({
      name: 'ml_drift_score',
      help: 'Population stability index of the live input window against the training profile, per feature',
      labelNames: ['model', 'version', 'feature'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const t of telemetry()) {
          const snap = t.drift?.snapshot();
          if (snap?.evaluated !== true) continue;
          for (const f of snap.features) this.set({ model: t.name, version: String(t.version), feature: f.name }, f.psi);
        }
      },
    });
    this.drifted = new Gauge({
      name: 'ml_drift_detected',
      help: '1 when the live inputs drifted from the training profile (PSI and KS both over their thresholds on a feature)',
      labelNames: ['model', 'version'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const t of telemetry()) {
          const snap = t.drift?.snapshot();
          if (snap?.evaluated === true) this.set({ model: t.name, version: String(t.version) }, snap.drifted ? 1 : 0);
        }
      },
    });
    this.accuracy = new Gauge({
      name: 'ml_model_accuracy',
      help: "The version's registered holdout accuracy",
      labelNames: ['model', 'version'],
      registers,
      aggregator: 'first',
    });
    this.queueWait = new BoundHistogram({
      name: 'quiver_queue_wait_seconds',
      help: 'Time requests wait in the batch queue',
      labelNames: ['model', 'version'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.batchSize = new BoundHistogram({
      name: 'quiver_batch_size_rows',
      help: 'Rows per inference batch',
      labelNames: ['model', 'version'],
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.inference = new BoundHistogram({
      name: 'quiver_inference_seconds',
      help: 'Time inside onnxruntime per batch, on a worker or on the inline lane',
      labelNames: ['model', 'version', 'lane'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.dropped = new Counter({
      name: 'quiver_requests_dropped_total',
      help: 'Requests not run: shed (queue full), deadline passed, or cancelled',
      labelNames: ['model', 'version', 'reason'],
      registers,
    });
    this.loads = new Counter({
      name: 'quiver_model_loads_total',
      help: 'Model version loads, by result',
      labelNames: ['model', 'result'],
      registers,
    });
    const depth = gauges.queueDepth;
    new Gauge({
      name: 'quiver_queue_depth_rows',
      help: 'Rows waiting in each model version queue',
      labelNames: ['model', 'version'],
      registers,
      collect() {
        this.reset();
        for (const q of depth?.() ?? []) this.set({ model: q.model, version: String(q.version) }, q.rows);
      },
    });
    const pool = gauges.pool;
    new Gauge({
      name: 'quiver_pool_utilization',
      help: 'Batches in flight on the workers over what they can take',
      registers,
      aggregator: 'average',
      collect() {
        const p = pool?.();
        this.set(p === undefined || p.capacity === 0 ? 0 : p.inflight / p.capacity);
      },
    });
    for (const [name, help, value] of [
      [
        'quiver_batch_target_rows',
        "Rows the batcher lets a model version's next batch take (with latencyTargetMs: chosen from its learnt run times)",
        (t: VersionTelemetry) => t.plan.rows,
      ],
      [
        'quiver_batch_delay_seconds',
        'How long a partial batch may wait for more rows (with latencyTargetMs: chosen from the arrival rate and the slack)',
        (t: VersionTelemetry) => t.plan.holdSeconds,
      ],
    ] as const) {
      new Gauge({
        name,
        help,
        labelNames: ['model', 'version'],
        registers,
        aggregator: 'average',
        collect() {
          this.reset();
          for (const t of telemetry()) this.set({ model: t.name, version: String(t.version) }, value(t));
        },
      });
    }
    const inflightRefused = gauges.inflightRefused;
    new Counter({
      name: 'quiver_inflight_refused_total',
      help: 'Predict calls refused with RESOURCE_EXHAUSTED (HTTP 429) at the server-wide in-flight cap (maxInflight), before their message was read',
      registers,
      collect() {
        this.reset();
        this.inc(inflightRefused?.() ?? 0);
      },
    });
    const started = this.started;
    new Gauge({
      name: 'quiver_uptime_seconds',
      help: 'Seconds since the server started',
      registers,
      aggregator: 'max',
      collect() {
        this.set((Date.now() - started) / 1000);
      },
    });
  }

  modelLoad(model: string, ok: boolean): void {
    if (this.enabled) this.loads.inc({ model, result: ok ? 'ok' : 'failure' });
  }

  telemetry(): VersionTelemetry[] {
    return [...this.versions.values()];
  }

  /** The ObserverFactory the model manager uses: one observer (and label set) per loaded version. */
  readonly observerFactory: ObserverFactory = (info) => this.observer(info);

  private observer(info: VersionInfo): VersionObserver {
    const predictions = this.predictions;
    const droppedCounter = this.dropped;
    const model = info.name;
    const version = String(info.version);
    const stats = new VersionStats();
    const drift = this.driftFactory(info);
    const key = `${model}\u0000${version}\u0000${this.versions.size}\u0000${Date.now()}`;
    const telemetry: VersionTelemetry = { name: model, version: info.version, stats, drift, info, plan: { rows: 0, holdSeconds: 0 } };
    this.versions.set(key, telemetry);
    const on = this.enabled;
    // The series every answer touches, bound once (bound-series.ts); the rest are rare.
    const okCounter = this.predictions.bind({ model, version, status: 'ok', code: 'OK' });
    const latency = this.latency.bind({ model, version });
    const queueWait = this.queueWait.bind({ model, version });
    const batchSize = this.batchSize.bind({ model, version });
    const workerTime = this.inference.bind({ model, version, lane: 'worker' });
    const inlineTime = this.inference.bind({ model, version, lane: 'inline' });
    const accuracy = info.lineage?.metrics.get('accuracy');
    if (on && accuracy !== undefined) this.accuracy.set({ model, version }, accuracy);
    return {
      request(code, seconds, rows) {
        stats.request(code, seconds, rows);
        if (!on) return;
        if (code === Code.OK) okCounter.inc(rows);
        else predictions.inc({ model, version, status: 'error', code: Code[code] ?? String(code) }, rows);
        if (seconds !== null) latency.observe(seconds);
      },
      prediction(value) {
        stats.prediction(value);
      },
      batch(rows, runSeconds, inline) {
        stats.batch(rows, inline);
        if (!on) return;
        batchSize.observe(rows);
        (inline ? inlineTime : workerTime).observe(runSeconds);
      },
      batchPlan(rows, holdSeconds) {
        telemetry.plan = { rows, holdSeconds };
      },
      queueWait(seconds) {
        if (on) queueWait.observe(seconds);
      },
      dropped(reason: DropReason) {
        stats.dropped.set(reason, (stats.dropped.get(reason) ?? 0) + 1);
        if (on) droppedCounter.inc({ model, version, reason });
      },
      features(input: HostTensor) {
        drift?.observeRows(input.data as Float32Array, input.dims[0] ?? 1);
      },
      close: () => {
        this.versions.delete(key);
        this.predictions.unbind(okCounter);
        this.latency.unbind(latency);
        this.queueWait.unbind(queueWait);
        this.batchSize.unbind(batchSize);
        this.inference.unbind(workerTime);
        this.inference.unbind(inlineTime);
        this.accuracy.remove({ model, version });
      },
    };
  }

  /**
   * The exposition text /metrics answers: this registry's, or, in a process of a multi-process
   * server, every process's summed (cluster-child.ts asks the primary for it).
   */
  text(): Promise<string> {
    return this.aggregated?.() ?? this.registry.metrics();
  }

  /** From now on text() answers `source`'s text (a cluster's sum) instead of this registry's. */
  aggregateWith(source: () => Promise<string>): void {
    this.aggregated = source;
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
