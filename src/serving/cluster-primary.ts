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
 * (cluster-metrics.ts), answers a process whose /metrics is read with that sum, starts a
 * process again when one exits, and when stopped asks each to drain and exits once all have
 * (killing them when they outlast the grace period).
 *
 * Written by hand over node:cluster: the process managers that do this (pm2, throng) own the
 * whole process tree and logging, while a server here needs only fork, restart and drain, plus
 * the metrics aggregation prom-client already provides.
 */
import cluster, { type Worker } from 'node:cluster';

import type { Logger } from 'pino';

import type { Options } from '../config/options.js';
import { onPort } from '../config/port-in-use.js';
import { type MetricsServer, startMetricsServer } from '../metrics/server.js';
import { type ChildMessage, PROCESS_INDEX_ENV, type PrimaryMessage, type ServingPorts } from './cluster-child.js';
import { ClusterMetrics } from './cluster-metrics.js';

/** A process that exits is started again after this long. */
const RESTART_DELAY_MS = 1_000;
/** More exits than this within RESTART_WINDOW_MS and the primary gives up (a crash loop). */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
/** Beyond shutdownGraceMs, how long a stop waits for the processes before it kills them. */
const STOP_MARGIN_MS = 10_000;
/** After a process's exit, how long to wait for its channel's last messages (its start failure). */
const CHANNEL_DRAIN_MS = 1_000;

/** A process's slot: the number it keeps across restarts, and the process now in it. */
interface Slot {
  readonly index: number;
  worker: Worker;
  /** The process in the slot has said it serves, and has not exited. */
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
  private readonly metrics = new ClusterMetrics((worker, message) => this.send(worker, message));
  private metricsServer: MetricsServer | undefined;
  private stopping = false;
  private killTimer: NodeJS.Timeout | undefined;
  /** Every process has served once: from then on one that exits is started again, even one that never served. */
  private started = false;
  /** The exit code so far: 1 once a crash loop ended the cluster, or a serving process did not drain cleanly. */
  private code = 0;
  /** Resolves with the exit code once every process has exited (after a stop, a failed start or a crash loop). */
  readonly exited: Promise<number>;
  private finish!: (code: number) => void;

  constructor(
    private readonly options: Options,
    private readonly log: Logger,
  ) {
    this.exited = new Promise<number>((resolve) => (this.finish = resolve));
    cluster.on('message', (worker, message: ChildMessage) => this.onMessage(worker, message));
  }

  /**
   * Forks the processes (the first alone), starts the metrics port, and logs 'quiver serving'.
   * Throws (once every process has exited) when one exits before it serves; returns false
   * when stop() was called meanwhile.
   */
  async start(): Promise<boolean> {
    try {
      const ports = await this.fork(1);
      await Promise.all(Array.from({ length: this.options.processes - 1 }, (_, i) => this.fork(i + 2)));
      if (this.stopping) return false;
      this.started = true;
      if (this.options.metricsServer)
        this.metricsServer = await onPort(
          this.options,
          'metricsPort',
          startMetricsServer(
            { text: () => this.metrics.text(this.servingWorkers()), contentType: this.metrics.contentType },
            this.options.metricsHost,
            this.options.metricsPort,
          ),
        );
      this.log.info(
        { ...ports, metricsPort: this.metricsServer?.port ?? null, processes: this.options.processes, pids: this.pids() },
        'quiver serving',
      );
      return true;
    } catch (err) {
      const asked = this.stopping;
      if (!asked) this.stop();
      await this.exited;
      if (asked) return false;
      throw err;
    }
  }

  pids(): number[] {
    return this.slots.map((s) => s.worker.process.pid as number);
  }

  /**
   * Asks every process to drain, and kills those still running shutdownGraceMs (plus a margin)
   * later; a second call kills them at once. `exited` resolves once all have exited.
   */
  stop(): void {
    if (this.stopping) {
      this.log.warn('stopping again: killing the server processes');
      this.kill();
      return;
    }
    this.stopping = true;
    for (const s of this.slots) this.send(s.worker, { type: 'quiver:shutdown' });
    this.killTimer = setTimeout(() => {
      this.log.error('server processes still running after the grace period: killing them');
      this.kill();
    }, this.options.shutdownGraceMs + STOP_MARGIN_MS);
    this.settleIfAllExited();
  }

  private kill(): void {
    for (const s of this.slots)
      if (!s.worker.isDead()) {
        this.code = 1;
        s.worker.process.kill('SIGKILL');
      }
  }

  /** Forks the process of slot `index` and resolves with its ports once it serves (rejects if it exits first). */
  private fork(index: number): Promise<ServingPorts> {
    const worker = cluster.fork({ [PROCESS_INDEX_ENV]: String(index) });
    // A send to a process that just died fails on the channel: logged, never thrown.
    worker.on('error', (err) => this.log.warn({ err, process: index }, 'server process channel error'));
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
        // A stop that came while it was starting may have found no one listening yet.
        if (this.stopping) this.send(worker, { type: 'quiver:shutdown' });
        resolve(message.ports);
      });
      // The exit can come before the channel's last messages (a start failure's): wait for the
      // channel to close too, or a moment.
      let exit: { code: number | null; signal: string | null } | undefined;
      let disconnected = false;
      let settled = false;
      const settle = (): void => {
        if (exit === undefined || settled) return;
        settled = true;
        const how = exit.signal ?? `code ${exit.code}`;
        this.metrics.exited(worker);
        const served = slot.serving;
        slot.serving = false;
        if (!served)
          reject(
            new ClusterStartFailed(
              failure?.message ?? `server process ${index} of ${this.options.processes} exited (${how}) before serving`,
              failure?.code ?? 1,
            ),
          );
        if (this.stopping) {
          if (served && exit.code !== 0) this.code = 1;
          this.settleIfAllExited();
        } else if (!served && !this.started) {
          // A failed start: start() stops the others.
          this.settleIfAllExited();
        } else {
          this.restart(slot, how);
        }
      };
      worker.on('disconnect', () => {
        disconnected = true;
        settle();
      });
      worker.on('exit', (code, signal) => {
        exit = { code, signal };
        if (disconnected) settle();
        else setTimeout(settle, CHANNEL_DRAIN_MS);
      });
    });
  }

  private restart(slot: Slot, how: string): void {
    const now = Date.now();
    this.exits.push(now);
    while ((this.exits[0] ?? now) < now - RESTART_WINDOW_MS) this.exits.shift();
    if (this.exits.length > MAX_RESTARTS) {
      this.log.fatal({ process: slot.index }, `server processes exited ${this.exits.length} times within a minute: stopping`);
      this.code = 1;
      this.stop();
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
    if (!this.slots.every((s) => s.worker.isDead())) return;
    clearTimeout(this.killTimer);
    const closed = this.metricsServer?.close() ?? Promise.resolve();
    void closed.finally(() => this.finish(this.code));
  }

  private servingWorkers(): Worker[] {
    return this.slots.filter((s) => s.serving && !s.worker.isDead()).map((s) => s.worker);
  }

  private onMessage(worker: Worker, message: ChildMessage): void {
    if (message.type === 'quiver:metrics-request') {
      this.metrics.text(this.servingWorkers()).then(
        (text) => this.send(worker, { type: 'quiver:metrics-text', id: message.id, text }),
        (err: unknown) => this.send(worker, { type: 'quiver:metrics-text', id: message.id, error: (err as Error).message }),
      );
    } else if (message.type === 'quiver:metrics-json') {
      this.metrics.answered(worker, message.id, message.metrics);
    }
  }

  private send(worker: Worker, message: PrimaryMessage): void {
    if (worker.isConnected())
      worker.send(message, (err: Error | null) => err && this.log.debug({ err }, 'message to a server process lost'));
  }
}
