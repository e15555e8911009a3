/**
 * An inference worker thread: holds one onnxruntime session per loaded model version,
 * created on first use, and runs whole batches. Session release arrives on a
 * BroadcastChannel, since piscina cannot address every worker.
 */
import { BroadcastChannel, workerData } from 'node:worker_threads';

import ort from 'onnxruntime-node';
import { Piscina } from 'piscina';

import { ServerSession } from '../onnx/server-session.js';
import type { PostedTask, ReleaseMessage, RunResult, RunTask, WireTensor, WorkerData } from './worker-protocol.js';
import type { TypedData } from './tensor.js';

const config = workerData as WorkerData;

interface Entry {
  readonly session: ServerSession;
  running: number;
  releaseRequested: boolean;
}

const sessions = new Map<string, Entry>();

const release = new BroadcastChannel(config.releaseChannel);
release.onmessage = (event: unknown) => {
  const { key } = (event as { data: ReleaseMessage }).data;
  const entry = sessions.get(key);
  if (entry === undefined) return;
  entry.releaseRequested = true;
  if (entry.running === 0) dispose(key, entry);
};
// The channel must not keep an otherwise finished worker alive.
(release as unknown as { unref(): void }).unref();

function dispose(key: string, entry: Entry): void {
  sessions.delete(key);
  entry.session.release();
}

/** The task's session, loaded on first use; a failed load throws and is not cached. */
function entryFor(task: RunTask): Entry {
  let entry = sessions.get(task.key);
  if (entry === undefined) {
    // The configured threads per operator: the workers run the batches, so they get the cores.
    entry = { session: ServerSession.load(task.path, config.intraOpThreads), running: 0, releaseRequested: false };
    sessions.set(task.key, entry);
  }
  return entry;
}

const now = (): number => performance.timeOrigin + performance.now();

export default async function run(task: PostedTask): Promise<unknown> {
  // Tells the main thread this task began here: if the worker dies now, this batch is the
  // one that killed it; tasks that never started can safely run again elsewhere.
  Atomics.store(task.started, 0, 1);
  const started = now();
  if (task.fault !== undefined && config.faultInjection) {
    if (task.fault === 'exit') process.exit(1);
    throw new Error('injected worker fault');
  }
  const cached = sessions.has(task.key);
  const t0 = now();
  const entry = entryFor(task);
  const t1 = now();
  entry.running++;
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of task.inputs) {
      feeds[input.name] = new ort.Tensor(input.dtype, input.data as ort.Tensor.DataType, input.dims);
    }
    const computeStart = now();
    const raw = entry.session.run(feeds, task.outputNames);
    const t2 = now();
    const outputs: WireTensor[] = [];
    const transfer: ArrayBuffer[] = [];
    for (const name of task.outputNames) {
      const t = raw[name];
      if (t === undefined) throw new Error(`the model returned no output '${name}'`);
      const data = t.data as TypedData;
      outputs.push({ name, dtype: t.type as WireTensor['dtype'], dims: t.dims, data });
      if (data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) transfer.push(data.buffer as ArrayBuffer);
    }
    const result: RunResult = {
      outputs,
      loadUs: cached ? 0 : Math.round((t1 - t0) * 1000),
      runUs: Math.round((t2 - computeStart) * 1000),
      dispatchUs: Math.max(0, Math.round((started - task.postedAt) * 1000)),
    };
    // Output buffers go back to the main thread transferred, not copied.
    return Piscina.move({ [Piscina.transferableSymbol]: transfer, [Piscina.valueSymbol]: result } as never);
  } finally {
    entry.running--;
    if (entry.releaseRequested && entry.running === 0) dispose(task.key, entry);
  }
}
