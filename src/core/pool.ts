/**
 * The inference worker pool: piscina threads, each holding onnxruntime sessions. The pool
 * counts batches in flight so the batch scheduler never queues more than the workers can
 * take (capacity = workers x tasksPerWorker); everything beyond waits in the per-model
 * batch queues, where it can still be merged, shed or dropped on deadline.
 */
import { BroadcastChannel } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';

import { Piscina } from 'piscina';

import type { FaultInjection, PostedTask, RunResult, RunTask, WorkerData } from './worker-protocol.js';

/** A failed task, and whether a worker had started it (if not, it may run again). */
export class TaskFailure extends Error {
  constructor(
    readonly started: boolean,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = 'TaskFailure';
  }
}

export interface PoolOptions {
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly tasksPerWorker: number;
}

// Under tsx (running from source) the worker is TypeScript and needs the bootstrap.
const WORKER_FILE = import.meta.url.endsWith('.ts')
  ? new URL('./worker-tsx.mjs', import.meta.url).href
  : new URL('./worker.js', import.meta.url).href;

export class InferencePool {
  readonly capacity: number;
  private readonly piscina: Piscina;
  private readonly releaseChannel: BroadcastChannel;
  private inflightCount = 0;
  private readonly slotListeners: Array<() => void> = [];
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  /** @param faults tests only: let tasks that carry a fault break their worker. */
  constructor(options: PoolOptions, faults: FaultInjection = {}) {
    this.capacity = options.workers * options.tasksPerWorker;
    const channel = `quiver-release-${randomUUID()}`;
    this.releaseChannel = new BroadcastChannel(channel);
    const data: WorkerData = {
      intraOpThreads: options.intraOpThreads,
      faultInjection: faults.faultInjection === true,
      releaseChannel: channel,
    };
    this.piscina = new Piscina({
      filename: WORKER_FILE,
      minThreads: options.workers,
      maxThreads: options.workers,
      concurrentTasksPerWorker: options.tasksPerWorker,
      // Idle workers stay: respawning threads and reloading sessions costs far more than
      // an idle thread. (piscina's default would retire them.)
      idleTimeout: 2 ** 31 - 1,
      // The scheduler never exceeds capacity; the bound only guards against a bug.
      maxQueue: this.capacity * 4,
      // 'async' keeps the worker event loop running while idle, so release messages on
      // the BroadcastChannel are handled promptly; it measured no slower than 'sync'.
      atomics: 'async',
      workerData: data,
    });
  }

  get inflight(): number {
    return this.inflightCount;
  }

  get workers(): number {
    return this.piscina.threads.length;
  }

  hasFreeSlot(): boolean {
    return !this.closed && this.inflightCount < this.capacity;
  }

  /** Called whenever a slot frees up (a batch finished). */
  onSlotFree(listener: () => void): void {
    this.slotListeners.push(listener);
  }

  /**
   * Runs one batch. Input buffers must be owned outright: they are transferred. Rejects with
   * a TaskFailure that says whether a worker started the task.
   */
  async run(task: RunTask): Promise<RunResult> {
    if (this.closed) throw new TaskFailure(false, new Error('the worker pool is closed'));
    const transferList: ArrayBuffer[] = [];
    for (const t of task.inputs) transferList.push(t.data.buffer as ArrayBuffer);
    const started = new Int32Array(new SharedArrayBuffer(4));
    const posted: PostedTask = { ...task, postedAt: performance.timeOrigin + performance.now(), started };
    this.inflightCount++;
    try {
      return (await this.piscina.run(posted, { transferList })) as RunResult;
    } catch (err) {
      throw new TaskFailure(Atomics.load(started, 0) === 1, err);
    } finally {
      this.inflightCount--;
      if (this.inflightCount === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
      for (const l of this.slotListeners) l();
    }
  }

  /** Asks every worker to release the sessions of a model version (after it is drained). */
  release(key: string): void {
    this.releaseChannel.postMessage({ key });
  }

  /** Resolves when no batch is in flight. */
  idle(): Promise<void> {
    if (this.inflightCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops the pool. Terminating a worker inside session.run aborts the whole process
   * (measured), so this waits for every batch in flight before destroying the threads.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
    this.releaseChannel.close();
    await this.piscina.destroy();
  }
}
