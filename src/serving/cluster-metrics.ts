/**
 * The metrics of a multi-process server, as its primary serves them (cluster-primary.ts): every
 * serving process's series, collected over IPC and summed by prom-client's cluster aggregation
 * (each family by its `aggregator`: counters and histograms add up, gauges as each declares).
 *
 * A summed counter must never go backwards, or Prometheus reads a reset and `rate()` shows a
 * spike: so a process that does not answer in time counts with the series it gave last, and a
 * process that exits leaves its counters and histograms behind, to which its replacement's,
 * counting from 0, add up.
 */
import type { Worker } from 'node:cluster';

import { AggregatorRegistry } from 'prom-client';

import type { PrimaryMessage } from './cluster-child.js';

/** How long a sum waits for one process's metrics before it counts the ones that process gave last. */
const COLLECT_TIMEOUT_MS = 5_000;
/** Retired processes' series are merged into one set once there are more than this many. */
const RETIRED_MERGE_AT = 8;

/** One registry's metrics as getMetricsAsJSON() gives them. */
type MetricsJson = object[];

interface Collect {
  readonly waiting: Set<Worker>;
  readonly answers: Map<Worker, MetricsJson>;
  readonly done: () => void;
}

const cumulative = (metrics: MetricsJson): MetricsJson =>
  metrics.filter((m) => ['counter', 'histogram'].includes(String((m as { type?: unknown }).type)));

export class ClusterMetrics {
  readonly contentType = AggregatorRegistry.PROMETHEUS_CONTENT_TYPE;
  private nextId = 0;
  private readonly collects = new Map<number, Collect>();
  /** Each serving process's series from its latest answer. */
  private readonly lastSeen = new Map<Worker, MetricsJson>();
  /** The counters and histograms of processes that have exited. */
  private retired: MetricsJson[] = [];

  constructor(
    private readonly send: (worker: Worker, message: PrimaryMessage) => void,
    private readonly collectTimeoutMs = COLLECT_TIMEOUT_MS,
  ) {}

  /** The sum over `serving` (and the processes gone before them), as exposition text. */
  async text(serving: readonly Worker[]): Promise<string> {
    const id = this.nextId++;
    const answers = new Map<Worker, MetricsJson>();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), this.collectTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.collects.delete(id);
        resolve();
      };
      this.collects.set(id, { waiting: new Set(serving), answers, done });
      for (const w of serving) this.send(w, { type: 'quiver:collect', id });
      if (serving.length === 0) done();
    });
    const late = serving.filter((w) => !answers.has(w)).map((w) => this.lastSeen.get(w) ?? []);
    if (this.retired.length > RETIRED_MERGE_AT) this.retired = [await AggregatorRegistry.aggregate(this.retired).getMetricsAsJSON()];
    return AggregatorRegistry.aggregate([...this.retired, ...answers.values(), ...late]).metrics();
  }

  /** A process's answer to collect `id`: its series, or undefined when it could not read them. */
  answered(worker: Worker, id: number, metrics: MetricsJson | undefined): void {
    if (metrics !== undefined) this.lastSeen.set(worker, metrics);
    const collect = this.collects.get(id);
    if (collect === undefined || !collect.waiting.delete(worker)) return;
    if (metrics !== undefined) collect.answers.set(worker, metrics);
    if (collect.waiting.size === 0) collect.done();
  }

  /** A process exited: no sum waits for it, and its counters and histograms stay in the sums. */
  exited(worker: Worker): void {
    for (const c of this.collects.values()) if (c.waiting.delete(worker) && c.waiting.size === 0) c.done();
    const last = this.lastSeen.get(worker);
    this.lastSeen.delete(worker);
    if (last !== undefined) this.retired.push(cumulative(last));
  }
}
