/** What one server's run records (written whole into the raw JSON): its samples, cycle by cycle and through the soak. */
import type { loadAverage } from '../lib/quiver-process.js';
import type { LoadStats } from '../lib/soak-load.js';
import type { MemSample } from './memory.js';

export interface CycleRecord {
  readonly cycle: number;
  /** The version serving after the cycle. */
  readonly version: number;
  /** Promotion command to the old version's release, ms (promote runs only). */
  readonly switchMs: number | null;
  readonly sample: MemSample;
  readonly windowOk: number;
  readonly p99Ms: number | null;
}

/** Load during one soak sample's window: answered calls and their p99. */
export interface SoakWindow {
  readonly t: number;
  readonly windowOk: number;
  readonly p99Ms: number | null;
}

export interface RunResult {
  readonly name: string;
  readonly promotions: boolean;
  readonly start: MemSample;
  readonly afterWarmup: MemSample;
  readonly cycles: CycleRecord[];
  readonly soak: MemSample[];
  readonly soakWindows: readonly SoakWindow[];
  readonly end: MemSample;
  readonly load: LoadStats;
  readonly loadsLogged: number;
  readonly releasesLogged: number;
  readonly cycleSeconds: number;
  readonly loadAvgStart: ReturnType<typeof loadAverage>;
  readonly loadAvgEnd: ReturnType<typeof loadAverage>;
}
