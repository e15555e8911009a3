/**
 * The options table: every option the server takes, grouped by what it configures (one file
 * each under option-table/). The order is the one docs/configuration.md shows, and the one
 * defaults are computed in: a default may read the options before it (intraOpThreads reads
 * workers, registryPollMs reads registryUrl).
 */
import { ACCESS_OPTIONS } from './option-table/access.js';
import { FEEDBACK_OPTIONS } from './option-table/feedback.js';
import { MONITORING_OPTIONS } from './option-table/monitoring.js';
import { REGISTRY_OPTIONS } from './option-table/registry.js';
import { REST_GATEWAY_OPTIONS } from './option-table/rest-gateway.js';
import { SERVING_OPTIONS } from './option-table/serving.js';
import { TRIAL_LOAD_OPTIONS } from './option-table/trial-load.js';
import type { OptionDef } from './option-schema.js';

/** Every option, in the table's order. */
export const OPTION_DEFS: readonly OptionDef[] = [
  ...SERVING_OPTIONS,
  ...MONITORING_OPTIONS,
  ...FEEDBACK_OPTIONS,
  ...REST_GATEWAY_OPTIONS,
  ...REGISTRY_OPTIONS,
  ...ACCESS_OPTIONS,
  ...TRIAL_LOAD_OPTIONS,
];
