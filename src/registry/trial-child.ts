/**
 * The trial-load child process (see trial.ts): loads one artifact into onnxruntime with the
 * server's fixed session options, runs it once on a sample input built from its signature
 * (dynamic dimensions 1, zeros), reports over IPC and exits. Whatever the model does to
 * this process (crash, hang, memory) stays in this process.
 */
import { Worker } from 'node:worker_threads';

import ort from 'onnxruntime-node';

import { allocate, elementCount } from '../core/tensor.js';
import { ServerSession } from '../onnx/server-session.js';
import type { TrialJob, TrialReport } from './trial.js';

/**
 * The server's session (onnx/server-session.ts, options from session-options.ts): fixed by the server, never by the
 * model or the uploader, with the same provider and graph optimization as the inference
 * workers (worker.ts), so what passes here loads there. One thread per operator rather than
 * the workers' intraOpThreads: the trial runs one sample input once, beside a serving
 * process whose workers already have the cores.
 */
const INTRA_OP_THREADS = 1;

const job = JSON.parse(process.argv[2] ?? '{}') as TrialJob;

// The main thread can be stuck inside onnxruntime for good, so the watchdog is a thread of
// its own: it kills this process once the parent is gone (this process was re-parented, maybe
// before it even started) or
// the deadline has passed, so no trial outlives the server that started it.
const watchdog = new Worker(
  `const { workerData } = require('node:worker_threads');
  const deadline = Date.now() + workerData.ms;
  setInterval(() => {
    if (process.ppid !== workerData.ppid || Date.now() > deadline) process.kill(process.pid, 'SIGKILL');
  }, 100);`,
  { eval: true, workerData: { ppid: job.parentPid, ms: job.watchdogMs } },
);
watchdog.unref();

const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024;

async function trial(): Promise<TrialReport> {
  const t0 = performance.now();
  let session: ServerSession;
  try {
    session = ServerSession.load(job.path, INTRA_OP_THREADS);
  } catch (err) {
    return { ok: false, stage: 'load', message: (err as Error).message, maxRssMb: maxRssMb() };
  }
  const t1 = performance.now();
  // Input names come from the model: fromEntries makes each an own key, '__proto__' included.
  const feeds: Record<string, ort.Tensor> = Object.fromEntries(
    job.inputs.map((input) => {
      const dims = (input.dims ?? [1]).map((d) => (d < 0 ? 1 : d));
      return [input.name, new ort.Tensor(input.dtype, allocate(input.dtype, elementCount(dims)) as ort.Tensor.DataType, dims)];
    }),
  );
  try {
    const out = session.run(feeds, job.outputs);
    const t2 = performance.now();
    return {
      ok: true,
      loadMs: Math.round(t1 - t0),
      runMs: Math.round(t2 - t1),
      maxRssMb: maxRssMb(),
      outputs: Object.entries(out).map(([name, t]) => ({ name, type: t.type, dims: [...t.dims] })),
    };
  } catch (err) {
    return { ok: false, stage: 'run', message: (err as Error).message, maxRssMb: maxRssMb() };
  }
}

const report = await trial();
if (process.send === undefined) {
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}
process.send(report, () => process.exit(0));
