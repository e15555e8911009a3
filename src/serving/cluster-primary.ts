/**
 * A multi-process server (`processes` > 1): this process is Node's cluster primary and serves
 * no call itself. It forks `processes` copies of the same `quiver serve`, each a whole Quiver
 * server (cluster-child.ts is their side) with its own event loop, worker pool, batch queues and
 * registry follower. Node 20's net servers have no reusePort, so the ports are shared the
 * cluster way: a process's listen goes to the primary, which holds the one listening socket of
 * each port and hands new connections to the processes in turn. Connections are spread, not
 * calls.
 *
 * The primary starts the first process alone (it seeds the demo model and migrates the
 * registry), then the others; it serves the metrics port with every process's metrics summed
 * (prom-client's cluster aggregation), answers a process whose /metrics is read with that sum,
 * starts a process again when one exits, and on SIGTERM or SIGINT asks each to drain and exits
 * once all have.
 *
 * Written by hand over node:cluster: the process managers that do this (pm2, throng) own the
 * whole process tree and logging, while a server here needs only fork, restart and drain, plus
 * the metrics aggregation prom-client already provides.
 */
import cluster, { type Worker } from 'node:cluster';

import type { Logger } from 'pino';
import { AggregatorRegistry } from 'prom-client';

import type { Options } from '../config/options.js';
import { onPort } from '../config/port-in-use.js';
import { type MetricsServer, startMetricsServer } from '../metrics/server.js';
import { type ChildMessage, PROCESS_INDEX_ENV, type PrimaryMessage, type ServingPorts } from './cluster-child.js';

/** A process that exits is started again after this long. */
const RESTART_DELAY_MS = 1_000;
/** More exits than this within RESTART_WINDOW_MS and the primary gives up (a crash loop). */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** How long the primary waits for one process's metrics before summing without them. */
const COLLECT_TIMEOUT_MS = 5_000;

/** A process's slot: the number it keeps across restarts, and the process now in it. */
interface Slot {
  readonly index: number;
  worker: Worker;
  serving: boolean;
}

/** Why the cluster could not start: a process exited before it served (its own message when it sent one). */
export class ClusterStartFailed extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export class ClusterPrimary {
  private readonly slots: Slot[] = [];
  private readonly exits: number[] = [];
  private metricsServer: MetricsServer | undefined;
  private stopping = false;
  /** Every process has served once: from then on one that exits is started again, even one that never served. */
  private started = false;
  /** The exit code so far: 1 once a crash loop ended the cluster, or a process did not drain cleanly when asked. */
  private code = 0;
  private nextCollect = 0;
  private readonly collects = new Map<number, { waiting: Set<Worker>; metrics: object[]; done: () => void }>();
  /** Resolves with the exit code once every process has exited (after a stop, or a crash loop). */
  readonly exited: Promise<number>;
  private finish!: (code: number) => void;

  private constructor(
    private readonly options: Options,
    private readonly log: Logger,
  ) {
    this.exited = new Promise<number>((resolve) => (this.finish = resolve));
    cluster.on('message', (worker, message: ChildMessage) => this.onMessage(worker, message));
  }

  /** Forks the processes (the first alone), starts the metrics port, and logs 'quiver serving'. */
  static async start(options: Options, log: Logger): Promise<ClusterPrimary> {
    const primary = new ClusterPrimary(options, log);
    try {
      const ports = await primary.fork(1);
      await Promise.all(Array.from({ length: options.processes - 1 }, (_, i) => primary.fork(i + 2)));
      primary.started = true;
      if (options.metricsServer)
        primary.metricsServer = await onPort(
          options,
          'metricsPort',
          startMetricsServer(
            { text: () => primary.metricsText(), contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE },
            options.metricsHost,
            options.metricsPort,
          ),
        );
      log.info(
        { ...ports, metricsPort: primary.metricsServer?.port ?? null, processes: options.processes, pids: primary.pids() },
        'quiver serving',
      );
      return primary;
    } catch (err) {
      await primary.stop();
      throw err;
    }
  }

  pids(): number[] {
    return this.slots.map((s) => s.worker.process.pid as number);
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  /** Asks every process to drain (a second call kills them); resolves with the exit code once all have exited. */
  async stop(): Promise<number> {
    if (this.stopping) {
      this.log.warn('second signal: killing the server processes');
      for (const s of this.slots) if (!s.worker.isDead()) s.worker.process.kill('SIGKILL');
      return this.exited;
    }
    this.stopping = true;
    for (const s of this.slots) this.send(s.worker, { type: 'quiver:shutdown' });
    this.settleIfAllExited();
    await this.metricsServer?.close();
    return this.exited;
  }

  /** Forks the process of slot `index` and resolves with its ports once it serves (rejects if it exits first). */
  private fork(index: number): Promise<ServingPorts> {
    const worker = cluster.fork({ [PROCESS_INDEX_ENV]: String(index) });
    const existing = this.slots.find((s) => s.index === index);
    const slot: Slot = existing ?? { index, worker, serving: false };
    slot.worker = worker;
    slot.serving = false;
    if (existing === undefined) this.slots.push(slot);
    let failure: { message: string; code: number } | undefined;
    return new Promise<ServingPorts>((resolve, reject) => {
      worker.on('message', (message: ChildMessage) => {
        if (message.type === 'quiver:failed') failure = message;
        if (message.type !== 'quiver:serving') return;
        slot.serving = true;
        resolve(message.ports);
      });
      worker.on('exit', (code, signal) => {
        const how = signal ?? `code ${code}`;
        this.dropFromCollects(worker);
        if (!slot.serving)
          reject(
            new ClusterStartFailed(
              failure?.message ?? `server process ${index} of ${this.options.processes} exited (${how}) before serving`,
              failure?.code ?? 1,
            ),
          );
        const served = slot.serving;
        slot.serving = false;
        // One that never served fails the start; after the start, any is started again.
        if (this.stopping && code !== 0) this.code = 1;
        if (this.stopping || (!served && !this.started)) return this.settleIfAllExited();
        this.restart(slot, how);
      });
    });
  }

  private restart(slot: Slot, how: string | number): void {
    const now = Date.now();
    this.exits.push(now);
    while ((this.exits[0] ?? now) < now - RESTART_WINDOW_MS) this.exits.shift();
    if (this.exits.length > MAX_RESTARTS) {
      this.log.fatal({ process: slot.index }, `server processes exited ${this.exits.length} times within a minute: stopping`);
      this.code = 1;
      void this.stop();
      return;
    }
    this.log.error({ process: slot.index, exit: how }, `server process ${slot.index} exited; starting it again`);
    setTimeout(() => {
      if (this.stopping) return;
      this.fork(slot.index).then(
        () => this.log.info({ process: slot.index, pid: slot.worker.process.pid }, `server process ${slot.index} serving again`),
        (err: unknown) => this.log.error({ process: slot.index }, (err as Error).message),
      );
    }, RESTART_DELAY_MS);
  }

  private settleIfAllExited(): void {
    if (this.slots.every((s) => s.worker.isDead())) this.finish(this.code);
  }

  private onMessage(worker: Worker, message: ChildMessage): void {
    if (message.type === 'quiver:metrics-request') {
      this.metricsText().then(
        (text) => this.send(worker, { type: 'quiver:metrics-text', id: message.id, text }),
        (err: unknown) => this.send(worker, { type: 'quiver:metrics-text', id: message.id, error: (err as Error).message }),
      );
    } else if (message.type === 'quiver:metrics-json') {
      const collect = this.collects.get(message.id);
      if (collect === undefined || !collect.waiting.delete(worker)) return;
      collect.metrics.push(message.metrics);
      if (collect.waiting.size === 0) collect.done();
    }
  }

  /** Every serving process's metrics, summed (each family by its aggregator: counters and histograms add up). */
  private async metricsText(): Promise<string> {
    const id = this.nextCollect++;
    const serving = this.slots.filter((s) => s.serving && !s.worker.isDead()).map((s) => s.worker);
    const metrics: object[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => done(), COLLECT_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        this.collects.delete(id);
        resolve();
      };
      this.collects.set(id, { waiting: new Set(serving), metrics, done });
      for (const w of serving) this.send(w, { type: 'quiver:collect', id });
      if (serving.length === 0) done();
    });
    return AggregatorRegistry.aggregate(metrics).metrics();
  }

  /** A process that exits no longer holds up a sum of metrics. */
  private dropFromCollects(worker: Worker): void {
    for (const c of this.collects.values()) if (c.waiting.delete(worker) && c.waiting.size === 0) c.done();
  }

  private send(worker: Worker, message: PrimaryMessage): void {
    if (worker.isConnected()) worker.send(message);
  }
}
