/**
 * The prediction log: a sampled share of the answers (`predictionLogSampleRate`, at most
 * `predictionLogMaxRowsPerSecond`), each with its
 * id, version, prediction and the allowed features (`predictionLogFeatures`), written to the
 * registry's database in batches off the request path (log-writer.ts). Memory is bounded: at most
 * MAX_PENDING rows wait for the next write (and one write's rows are in flight), and rows beyond that are dropped and counted. The
 * table is bounded too: after each write the rows past `predictionLogMaxRows` and those older
 * than `predictionLogMaxAgeHours` are deleted.
 */
import type { Logger } from 'pino';

import type { ServingSignature } from '../core/signature.js';
import type { HostTensor } from '../core/tensor.js';
import type { LogWriter } from './log-writer.js';
import type { LoggedPrediction, PredictionStore } from './prediction-store.js';

export interface PredictionLogOptions {
  /** The share of answers logged, 0 to 1. */
  readonly sampleRate: number;
  /** The features kept: '*' for all, '' for none, else names separated by commas. */
  readonly features: string;
  readonly maxRows: number;
  readonly maxAgeMs: number;
  /** How often pending rows are written (default FLUSH_MS). */
  readonly flushMs?: number;
  /** Rows waiting for the next write, at most (default MAX_PENDING; tests lower it). */
  readonly maxPending?: number;
  /** Answers logged per second, at most, across bursts (0: no cap). */
  readonly maxRowsPerSecond?: number;
}

/** Rows waiting for the next write, at most; more are dropped (and counted). */
export const MAX_PENDING = 20_000;
/** How often pending rows are written, by default. */
export const FLUSH_MS = 200;
/** How often rows past their age are deleted. */
const PRUNE_AGE_MS = 10_000;

/** What the log needs of a version: its name, number and signature. */
export interface LoggableVersion {
  readonly name: string;
  readonly version: number;
  readonly signature: ServingSignature;
}

/** A sampled request's version and kept features, until its answer is known. */
export interface Capture {
  readonly modelName: string;
  readonly version: number;
  readonly features: string;
}

export class PredictionLog {
  private pending: LoggedPrediction[] = [];
  private readonly kept: ReadonlySet<string> | 'all' | 'none';
  /** Per signature: the indexes and names of the features kept. */
  private readonly columns = new WeakMap<ServingSignature, ReadonlyArray<readonly [number, string]>>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private lastAgePrune = 0;
  private lastFailureLog = 0;
  /** The rate cap's token bucket: tokens left, and when it was last filled. */
  private tokens = 0;
  private filledAt = 0;
  /** Rows sampled, written, dropped (the pending rows were full), lost to a failed write, and not logged for the rate cap. */
  readonly counts = { sampled: 0, written: 0, dropped: 0, failed: 0, capped: 0 };

  constructor(
    readonly store: PredictionStore,
    private readonly writer: LogWriter,
    private readonly options: PredictionLogOptions,
    private readonly log: Logger,
  ) {
    const f = options.features.trim();
    this.kept =
      f === '*'
        ? 'all'
        : f === ''
          ? 'none'
          : new Set(
              f
                .split(',')
                .map((s) => s.trim())
                .filter((s) => s !== ''),
            );
  }

  get enabled(): boolean {
    return this.options.sampleRate > 0;
  }

  private keptColumns(sig: ServingSignature): ReadonlyArray<readonly [number, string]> {
    let cols = this.columns.get(sig);
    if (cols === undefined) {
      const names = sig.featureNames ?? [];
      const kept = this.kept;
      cols = kept === 'none' ? [] : names.flatMap((n, i) => (kept === 'all' || kept.has(n) ? [[i, n] as const] : []));
      this.columns.set(sig, cols);
    }
    return cols;
  }

  /**
   * Decides whether to log this request's answer; when it does, keeps the allowed features of
   * row `row` of the model's feature tensor now (the tensor is handed to a worker next).
   */
  capture(v: LoggableVersion, input: HostTensor | undefined, row = 0): Capture | undefined {
    const rate = this.options.sampleRate;
    if (rate <= 0 || (rate < 1 && Math.random() >= rate)) return undefined;
    if (!this.takeToken()) {
      this.counts.capped++;
      return undefined;
    }
    let features = '{}';
    if (input !== undefined && v.signature.featureNames !== null) {
      const cols = this.keptColumns(v.signature);
      if (cols.length > 0) {
        const width = v.signature.featureNames.length;
        const data = input.data as Float32Array;
        const out: Record<string, number> = {};
        for (const [i, name] of cols) out[name] = data[row * width + i] as number;
        features = JSON.stringify(out);
      }
    }
    return { modelName: v.name, version: v.version, features };
  }

  /**
   * The rate cap (maxRowsPerSecond): a token bucket that holds one second's worth, so a burst
   * after a quiet moment is logged whole and a sustained rate above the cap is logged at the cap.
   */
  private takeToken(): boolean {
    const cap = this.options.maxRowsPerSecond ?? 0;
    if (cap <= 0) return true;
    if (this.tokens < 1) {
      const now = performance.now();
      this.tokens = Math.min(cap, this.tokens + ((now - this.filledAt) * cap) / 1000);
      this.filledAt = now;
      if (this.tokens < 1) return false;
    }
    this.tokens--;
    return true;
  }

  /** Logs a captured request's answer. */
  record(capture: Capture, id: string, prediction: number): void {
    // A non-finite prediction cannot be compared with an outcome (and SQL stores no NaN).
    if (!Number.isFinite(prediction)) return;
    this.counts.sampled++;
    if (this.pending.length >= (this.options.maxPending ?? MAX_PENDING)) {
      this.counts.dropped++;
      return;
    }
    this.pending.push({ ...capture, id, prediction, atMs: Date.now() });
  }

  start(): void {
    if (!this.enabled || this.timer !== undefined) return;
    this.timer = setInterval(() => void this.flush(), this.options.flushMs ?? FLUSH_MS);
    this.timer.unref();
  }

  /** Stops the timer, writes what is pending, and closes the writer. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    await this.writer.close();
  }

  /** Writes the pending rows now (one write at a time; a caller during one waits for the next). */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    if (this.pending.length === 0) return;
    const rows = this.pending;
    this.pending = [];
    this.writing = this.write(rows).finally(() => (this.writing = undefined));
    await this.writing;
  }

  private async write(rows: LoggedPrediction[]): Promise<void> {
    try {
      const now = Date.now();
      const ageDue = now - this.lastAgePrune >= PRUNE_AGE_MS;
      if (ageDue) this.lastAgePrune = now;
      await this.writer.write(rows, ageDue ? now - this.options.maxAgeMs : 0);
      this.counts.written += rows.length;
    } catch (err) {
      this.counts.failed += rows.length;
      // The registry's database is down or full: serving goes on, and the log says so once a minute.
      if (Date.now() - this.lastFailureLog >= 60_000) {
        this.lastFailureLog = Date.now();
        this.log.warn({ err, rows: rows.length }, 'the prediction log could not be written; these rows are lost');
      }
    }
  }
}
