/** A server's run while it is going: the server, its load, and how to sample its memory. */
import type { QuiverBuild, ServerProcess } from '../lib/quiver-process.js';
import type { Load } from './load.js';
import { type MemSample, readMemory } from './memory.js';
import type { SoakOptions } from './options.js';

export interface LiveRun {
  /** 'promote' or 'control', for the progress lines. */
  readonly name: string;
  readonly options: SoakOptions;
  readonly build: QuiverBuild;
  readonly dataDir: string;
  readonly server: ServerProcess;
  readonly load: Load;
  readonly sample: (phase: string, cycle: number | null) => Promise<MemSample>;
}

/** Samples the server's memory, stamped with the seconds since it started serving. */
export function memorySampler(server: ServerProcess): LiveRun['sample'] {
  return async (phase, cycle) => ({
    t: Math.round((performance.now() - server.startedAt) / 100) / 10,
    phase,
    cycle,
    ...(await readMemory(server.pid, server.metricsPort)),
  });
}
