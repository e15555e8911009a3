/** The prediction log's writer for SQLite: batches go to a thread of its own (sqlite-log-worker.ts). */
import { Worker } from 'node:worker_threads';

import type { LogWriter } from './log-writer.js';
import type { LoggedPrediction } from './prediction-store.js';
import type { LogWorkerData, LogWorkerReply, LogWorkerRequest } from './sqlite-log-worker.js';

// Under tsx (running from source) the worker is TypeScript and needs the bootstrap.
const WORKER_FILE = import.meta.url.endsWith('.ts')
  ? new URL('./sqlite-log-worker-tsx.mjs', import.meta.url)
  : new URL('./sqlite-log-worker.js', import.meta.url);

export class SqliteLogWriter implements LogWriter {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private seq = 0;
  private failure: Error | undefined;

  constructor(path: string, maxRows: number) {
    this.worker = new Worker(WORKER_FILE, { workerData: { path, maxRows } satisfies LogWorkerData });
    // Idle, it must not keep the process alive.
    this.worker.unref();
    this.worker.on('message', (reply: LogWorkerReply) => {
      const w = this.waiting.get(reply.seq);
      this.waiting.delete(reply.seq);
      if (reply.error === undefined) w?.resolve();
      else w?.reject(new Error(reply.error));
    });
    const fail = (err: Error): void => {
      this.failure = err;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the prediction log's writer thread exited (code ${code})`)));
  }

  write(rows: readonly LoggedPrediction[], cutoffMs: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const seq = ++this.seq;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, rows, cutoffMs } satisfies LogWorkerRequest);
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
