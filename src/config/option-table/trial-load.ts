/** Trial loads: a version is run once in a limited child process before it is promoted or first served. */
import type { OptionDef } from '../option-schema.js';

export const TRIAL_LOAD_OPTIONS: readonly OptionDef[] = [
  {
    key: 'trialLoad',
    kind: 'bool',
    default: () => true,
    doc: 'before a version is promoted, and before any version first runs in the server process (on demand, by alias, on reload, at start), load it and run it once on a sample input in a child process (time- and memory-limited); a model that crashes or hangs is refused. Outcomes are recorded in the registry; a recorded failure is refused even with this off',
  },
  {
    key: 'trialTimeoutMs',
    kind: 'int',
    min: 100,
    max: 600_000,
    default: () => 30_000,
    unit: 'ms',
    doc: 'how long the trial load and run may take',
  },
  {
    key: 'trialMaxMemoryMb',
    kind: 'int',
    min: 64,
    max: 1_048_576,
    default: () => 2048,
    unit: 'MiB',
    doc: 'resident memory the trial process may use before it is killed',
  },
];
