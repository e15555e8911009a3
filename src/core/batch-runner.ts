/**
 * Runs one model version's batches: on the worker pool (retrying a batch whose worker died
 * before starting it) or on the main thread's inline lane, then splits the outputs back to the
 * requests and settles every one of them.
 */
import type { Admission } from './admission.js';
import { type BatcherSpec, type BatcherStats, nowMs, type Pending, settle } from './batch-types.js';
import { inferenceFailed } from './errors.js';
import type { InlineRunner } from './inline-runner.js';
import { type InferencePool, TaskFailure } from './pool.js';
import type { RunCostModel } from './run-cost.js';
import { concatRows, type HostTensor, sliceRows } from './tensor.js';
import type { RunResult, WireTensor } from './worker-protocol.js';

/** Attempts for a batch whose worker died before starting it. */
const MAX_ATTEMPTS = 3;

export class BatchRunner {
  private inflightCount = 0;
  private inflightRowsCount = 0;

  /** `afterRun` is called once each run has settled its requests. */
  constructor(
    private readonly spec: BatcherSpec,
    private readonly stats: BatcherStats,
    private readonly admission: Admission,
    private readonly cost: RunCostModel,
    private readonly afterRun: () => void,
  ) {}

  /** Batches running now, on a worker or inline. */
  get inflight(): number {
    return this.inflightCount;
  }

  /** Rows in the batches running now. */
  get inflightRows(): number {
    return this.inflightRowsCount;
  }

  /** Runs a batch on the pool and settles every request in it. */
  async run(batch: Pending[], pool: InferencePool): Promise<void> {
    const batchRows = batch.reduce((n, p) => n + p.rows, 0);
    this.inflightCount++;
    this.inflightRowsCount += batchRows;
    const dispatchedAt = nowMs();
    try {
      const sig = this.spec.signature;
      const fault = batch.find((p) => p.fault !== undefined)?.fault;
      let result: RunResult | undefined;
      for (let attempt = 1; result === undefined; attempt++) {
        // Fresh buffers each attempt: they are transferred to the worker and gone after.
        const inputs: WireTensor[] = sig.inputs.map((spec, i) => ({
          name: spec.name,
          ...concatRows(batch.map((p) => p.tensors[i] as HostTensor)),
        }));
        try {
          result = await pool.run({
            key: this.spec.key,
            path: this.spec.path,
            inputs,
            outputNames: sig.outputs.map((o) => o.name),
            ...(fault === undefined ? {} : { fault }),
          });
        } catch (err) {
          // A batch that never started (its worker died with another batch) runs again.
          if (err instanceof TaskFailure && !err.started && attempt < MAX_ATTEMPTS) {
            this.stats.retried++;
            continue;
          }
          throw err;
        }
      }
      this.stats.batches++;
      this.stats.rows += batchRows;
      this.spec.observer.batch(batchRows, result.runUs / 1e6, false);
      this.admission.noteRunTime(result.runUs);
      this.cost.observe(batchRows, result.runUs);
      this.distribute(batch, result.outputs, dispatchedAt, result.runUs, batchRows, false);
    } catch (err) {
      const error = inferenceFailed(`inference failed for ${this.spec.label}`, err instanceof TaskFailure ? err.cause : err);
      for (const p of batch) settle(p, error);
    } finally {
      this.inflightCount--;
      this.inflightRowsCount -= batchRows;
      this.afterRun();
    }
  }

  /** Runs one small request on the main thread's session (the inline lane), synchronously. */
  runInline(p: Pending, inline: InlineRunner): void {
    this.inflightCount++;
    const dispatchedAt = nowMs();
    try {
      const outputs = inline.run(p.tensors);
      const runUs = Math.round((nowMs() - dispatchedAt) * 1000);
      this.stats.inlineRuns++;
      this.stats.rows += p.rows;
      this.spec.observer.batch(p.rows, runUs / 1e6, true);
      this.cost.observe(p.rows, runUs);
      this.distribute([p], outputs, dispatchedAt, runUs, p.rows, true);
    } catch (err) {
      settle(p, inferenceFailed(`inference failed for ${this.spec.label}`, err));
    } finally {
      this.inflightCount--;
      this.afterRun();
    }
  }

  /** Splits batch outputs back to their requests along the batch dimension. */
  private distribute(
    batch: Pending[],
    outputs: readonly HostTensor[],
    dispatchedAt: number,
    runUs: number,
    batchRows: number,
    inline: boolean,
  ): void {
    if (batch.length > 1) {
      outputs.forEach((o, i) => {
        if (o.dims[0] !== batchRows) {
          throw new Error(
            `output '${this.spec.signature.outputs[i]?.name}' has first dimension ${o.dims[0]}, not the batch's ${batchRows} rows: it cannot be split per request`,
          );
        }
      });
    }
    let offset = 0;
    for (const p of batch) {
      const mine = batch.length === 1 ? outputs : outputs.map((o) => sliceRows(o, offset, offset + p.rows));
      offset += p.rows;
      const queueMs = dispatchedAt - p.enqueuedAt;
      this.spec.observer.queueWait(queueMs / 1000);
      settle(p, { outputs: mine, timing: { queueUs: Math.round(queueMs * 1000), runUs, batchRows, dispatchedAt, inline } });
    }
  }
}
