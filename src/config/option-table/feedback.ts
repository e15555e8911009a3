/** The live feedback loop: the prediction log, and the live quality that outcomes give (src/feedback/). */
import type { OptionDef } from '../option-schema.js';

export const FEEDBACK_OPTIONS: readonly OptionDef[] = [
  {
    key: 'predictionLogSampleRate',
    kind: 'number',
    min: 0,
    max: 1,
    default: () => 1,
    doc: "the share of answers written to the prediction log in the registry's database (0 = none: outcomes then have nothing to join). Each logged answer keeps its id, version, prediction and the allowed features; RecordOutcomes and POST /feedback join ground truth to it by id, for the live accuracy or MAE and `quiver data export`",
  },
  {
    key: 'predictionLogMaxRowsPerSecond',
    kind: 'int',
    min: 0,
    max: 10_000_000,
    default: () => 1000,
    unit: 'rows/s',
    doc: 'the most answers the prediction log takes per second (a burst up to one second’s worth is taken whole); above it, answers are not logged and their outcomes are reported unknown. Writing the log costs CPU: 0 removes the cap',
  },
  {
    key: 'predictionLogFeatures',
    kind: 'string',
    default: () => '*',
    doc: 'the features the prediction log keeps: `*` for all of them, names separated by commas for only those, or empty for none (the prediction and its outcome are still kept)',
  },
  {
    key: 'predictionLogMaxRows',
    kind: 'int',
    min: 100,
    max: 100_000_000,
    default: () => 100_000,
    unit: 'rows',
    doc: 'the prediction log keeps about this many of the newest rows, across every replica sharing the registry; older ones are deleted',
  },
  {
    key: 'predictionLogMaxAgeHours',
    kind: 'int',
    min: 1,
    max: 24 * 366,
    default: () => 24 * 7,
    unit: 'hours',
    doc: 'rows of the prediction log older than this are deleted; an outcome for one of them is reported unknown',
  },
  {
    key: 'liveQualityMinSamples',
    kind: 'int',
    min: 1,
    max: 1_000_000,
    default: () => 100,
    unit: 'outcomes',
    doc: 'outcomes a version needs before its live accuracy or MAE is called sufficient: the alerts use the live figure instead of the registered one from there on',
  },
];
