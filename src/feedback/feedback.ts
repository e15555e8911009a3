/**
 * The live feedback loop of one server: the prediction log (what was answered), the outcomes
 * that arrive for it (RecordOutcomes, POST /feedback) and the live quality they give. Outcomes
 * are checked here, once for every transport.
 */
import type { Logger } from 'pino';

import { failedPrecondition, invalidArgument } from '../core/errors.js';
import type { RecordOutcomesRequest, RecordOutcomesResponse } from '../gen/quiver/v1/prediction.js';
import { LiveQuality, type LiveQualityOptions } from './live-quality.js';
import { storeWriter } from './log-writer.js';
import { SqliteLogWriter } from './sqlite-log-writer.js';
import { FLUSH_MS, PredictionLog, type PredictionLogOptions } from './prediction-log.js';
import type { OutcomeInput, PredictionStore } from './prediction-store.js';

/** Unknown ids an answer lists, at most (it counts them all). */
export const MAX_UNKNOWN_LISTED = 100;

export interface FeedbackOptions extends PredictionLogOptions, LiveQualityOptions {
  /** Outcomes one call may carry, at most. */
  readonly maxOutcomes: number;
}

/** How often the live quality is re-read from the registry's database. */
const QUALITY_REFRESH_MS = 5000;

/** The feedback loop's part of the server options. */
export const feedbackOptions = (o: {
  predictionLogSampleRate: number;
  predictionLogMaxRowsPerSecond: number;
  predictionLogFeatures: string;
  predictionLogMaxRows: number;
  predictionLogMaxAgeHours: number;
  liveQualityMinSamples: number;
  maxRequestRows: number;
}): FeedbackOptions => ({
  sampleRate: o.predictionLogSampleRate,
  maxRowsPerSecond: o.predictionLogMaxRowsPerSecond,
  features: o.predictionLogFeatures,
  maxRows: o.predictionLogMaxRows,
  maxAgeMs: o.predictionLogMaxAgeHours * 3_600_000,
  minSamples: o.liveQualityMinSamples,
  windowMs: o.predictionLogMaxAgeHours * 3_600_000,
  refreshMs: QUALITY_REFRESH_MS,
  maxOutcomes: o.maxRequestRows,
});

/** Checks a call's outcomes: each names an id and exactly one finite label or value. */
export function checkOutcomes(req: RecordOutcomesRequest, max: number): OutcomeInput[] {
  if (req.outcomes.length === 0) throw invalidArgument('outcomes: empty; send at least one {"id": ..., "label": ...}');
  if (req.outcomes.length > max)
    throw invalidArgument(`outcomes: ${req.outcomes.length} outcomes is over the limit of ${max} per call; split them`);
  return req.outcomes.map((o, i) => {
    const where = `outcomes[${i}]`;
    if (o.id === '') throw invalidArgument(`${where}.id: required, the id the prediction's answer carried`);
    if (o.id.length > 256) throw invalidArgument(`${where}.id: longer than 256 characters`);
    if (o.label !== undefined && o.value !== undefined)
      throw invalidArgument(`${where}: give either label (classifiers) or value (regressors), not both`);
    const outcome = o.label ?? o.value;
    if (outcome === undefined) throw invalidArgument(`${where}: label (classifiers) or value (regressors) is required`);
    if (!Number.isFinite(outcome)) throw invalidArgument(`${where}.${o.label !== undefined ? 'label' : 'value'}: must be a finite number`);
    return { id: o.id, outcome };
  });
}

export class Feedback {
  readonly log: PredictionLog;
  readonly quality: LiveQuality;
  /** Outcomes joined and outcomes whose id was unknown, since start. */
  readonly counts = { recorded: 0, unknown: 0 };

  constructor(
    store: PredictionStore,
    private readonly options: FeedbackOptions,
    classifier: (name: string, version: number) => boolean | undefined,
    logger: Logger,
  ) {
    const writer =
      store.sqlitePath === undefined ? storeWriter(store, options.maxRows) : new SqliteLogWriter(store.sqlitePath, options.maxRows);
    this.log = new PredictionLog(store, writer, options, logger);
    this.quality = new LiveQuality(store, classifier, options, logger);
  }

  get store(): PredictionStore {
    return this.log.store;
  }

  start(): void {
    this.log.start();
    this.quality.start();
  }

  async stop(): Promise<void> {
    await this.log.stop();
    await this.quality.stop();
  }

  /**
   * Joins outcomes to logged predictions. This server's pending rows are written first; an id
   * still unknown is tried once more after another replica's next write could have landed, so
   * an outcome sent at once to a different replica than the prediction still joins.
   */
  async recordOutcomes(req: RecordOutcomesRequest): Promise<RecordOutcomesResponse> {
    if (!this.log.enabled)
      throw failedPrecondition('outcomes join the prediction log, which is off (predictionLogSampleRate is 0): set it above 0');
    const outcomes = checkOutcomes(req, this.options.maxOutcomes);
    await this.log.flush();
    let unknown = await this.store.recordOutcomes(outcomes, Date.now());
    if (unknown.length > 0) {
      await new Promise((resolve) => setTimeout(resolve, 2 * (this.options.flushMs ?? FLUSH_MS) + 50));
      const again = new Set(unknown);
      unknown = await this.store.recordOutcomes(
        outcomes.filter((o) => again.has(o.id)),
        Date.now(),
      );
    }
    const distinct = new Set(outcomes.map((o) => o.id)).size;
    const recorded = distinct - unknown.length;
    this.counts.recorded += recorded;
    this.counts.unknown += unknown.length;
    if (recorded > 0) this.quality.refreshSoon();
    return { recorded, unknown: unknown.length, unknownIds: unknown.slice(0, MAX_UNKNOWN_LISTED) };
  }
}
