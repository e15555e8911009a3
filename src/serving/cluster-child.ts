/**
 * One process of a multi-process server (`processes` > 1), the side that talks to the cluster
 * primary (cluster-primary.ts) over Node's IPC channel: it says when it serves (and on which
 * ports), hands its metrics to the primary, which sums every process's, asks the primary for
 * that sum when its own /metrics is read, and drains when the primary says so or goes away.
 *
 * The messages are the one protocol between the two sides; both import them from here.
 */
import cluster from 'node:cluster';

import type { Registry } from 'prom-client';

/** The ports a process serves on (each process binds the same ones; the primary holds the sockets). */
export interface ServingPorts {
  readonly grpcPort: number;
  readonly registryPort: number | null;
  readonly httpPort: number | null;
  readonly registryHttpPort: number | null;
}

/** What a process sends the primary. */
export type ChildMessage =
  | { readonly type: 'quiver:serving'; readonly ports: ServingPorts }
  | { readonly type: 'quiver:failed'; readonly message: string; readonly code: number }
  /** `metrics` undefined: the process could not read its registry. */
  | { readonly type: 'quiver:metrics-json'; readonly id: number; readonly metrics?: object[] }
  | { readonly type: 'quiver:metrics-request'; readonly id: number };

/** What the primary sends a process. */
export type PrimaryMessage =
  | { readonly type: 'quiver:shutdown' }
  | { readonly type: 'quiver:collect'; readonly id: number }
  | { readonly type: 'quiver:metrics-text'; readonly id: number; readonly text?: string; readonly error?: string };

/** The environment variable the primary numbers its processes with (1, 2, ...). */
export const PROCESS_INDEX_ENV = 'QUIVER_PROCESS_INDEX';

/** How long a process waits for the primary's sum before its /metrics fails. */
const METRICS_TIMEOUT_MS = 10_000;

/** True in a process Quiver's cluster primary forked (not another cluster manager's worker). */
export const isClusterProcess = (): boolean => cluster.isWorker && process.env[PROCESS_INDEX_ENV] !== undefined;

export class ClusterProcess {
  readonly index = Number(process.env[PROCESS_INDEX_ENV] ?? 0);
  private registry: Registry | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();

  /**
   * Listens to the primary from now on: until `serving()` names this process's metrics, a
   * collect gets none (the process is still starting).
   * @param shutdown drains the server, when the primary asks or its channel closes.
   */
  constructor(shutdown: (reason: string) => void) {
    process.on('message', (message: PrimaryMessage) => {
      if (message.type === 'quiver:shutdown') shutdown('the primary asked');
      else if (message.type === 'quiver:collect') void this.collect(message.id);
      else if (message.type === 'quiver:metrics-text') this.answered(message);
    });
    // Node's cluster exits a worker at once when the primary's channel closes unexpectedly
    // (lib/internal/cluster/child.js); marking the disconnect as expected lets it drain instead.
    process.prependListener('disconnect', () => {
      if (cluster.worker !== undefined) cluster.worker.exitedAfterDisconnect = true;
    });
    process.on('disconnect', () => {
      for (const p of this.pending.values()) p.reject(new Error('the cluster primary is gone'));
      this.pending.clear();
      shutdown('the primary is gone');
    });
  }

  /** Tells the primary this process serves, and which registry's metrics are its own. */
  serving(ports: ServingPorts, registry: Registry): void {
    this.registry = registry;
    this.send({ type: 'quiver:serving', ports });
  }

  /** Tells the primary why this process could not start (the primary says it, once, for the cluster). */
  failed(message: string, code: number): void {
    this.send({ type: 'quiver:failed', message, code });
  }

  /** Every process's metrics summed, as the primary aggregates them (what this process's /metrics answers). */
  clusterMetrics(): Promise<string> {
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error('the cluster primary did not answer with the metrics'));
      }, METRICS_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      this.send({ type: 'quiver:metrics-request', id });
    });
  }

  private async collect(id: number): Promise<void> {
    let metrics: object[] | undefined = [];
    try {
      if (this.registry !== undefined) metrics = await this.registry.getMetricsAsJSON();
    } catch {
      // A collect function failed: the primary counts this process's last series instead.
      metrics = undefined;
    }
    this.send({ type: 'quiver:metrics-json', id, ...(metrics === undefined ? {} : { metrics }) });
  }

  private answered(message: Extract<PrimaryMessage, { type: 'quiver:metrics-text' }>): void {
    const p = this.pending.get(message.id);
    if (p === undefined) return;
    this.pending.delete(message.id);
    if (message.text !== undefined) p.resolve(message.text);
    else p.reject(new Error(message.error ?? 'no metrics'));
  }

  private send(message: ChildMessage): void {
    if (process.connected) process.send?.(message);
  }
}
