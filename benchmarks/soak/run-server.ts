/** One server's run: start, warm-up, cycles (promotions or control), optionally the soak, the final counts; the server stopped whatever happens. */
import { setTimeout as sleep } from 'node:timers/promises';

import { loadAverage, type QuiverBuild, stopQuiver } from '../lib/quiver-process.js';
import { runCycles } from './cycles.js';
import { type LiveRun, memorySampler } from './live-run.js';
import { startLoad } from './load.js';
import { MODEL, type SoakOptions } from './options.js';
import type { RunResult } from './records.js';
import { startServer } from './server.js';
import { runSoak } from './soak-phase.js';

export interface RunSpec {
  readonly name: string;
  readonly dataDir: string;
  /** Promotions in each cycle, or the control's read-only command. */
  readonly promotions: boolean;
  readonly soakMinutes: number;
  /** The version serving when the run starts. */
  readonly firstVersion: number;
}

export async function runServer(options: SoakOptions, build: QuiverBuild, spec: RunSpec): Promise<RunResult> {
  const { name, dataDir, promotions } = spec;
  process.stderr.write(`[${name}] starting a server\n`);
  const loadAvgStart = loadAverage();
  const server = await startServer(options, build, dataDir);
  const sample = memorySampler(server);
  try {
    const start = await sample('start', null);
    const load = await startLoad(options, server.grpcPort);
    process.stderr.write(
      `[${name}] pid ${server.pid}, RSS ${start.rssMiB} MiB at start; warming up ${options.warmupS}s at ${options.rate} req/s\n`,
    );
    await sleep(options.warmupS * 1000);
    const warm = await load.stats();
    const afterWarmup = await sample('warm-up', null);
    process.stderr.write(`[${name}] after warm-up: RSS ${afterWarmup.rssMiB} MiB, ${warm.ok} ok, ${warm.failed} failed\n`);

    const run: LiveRun = { name, options, build, dataDir, server, load, sample };
    const cycles = await runCycles(run, promotions, spec.firstVersion);
    const { soak, soakWindows } = await runSoak(run, spec.soakMinutes);
    const final = await load.stop();
    const end = await sample('end', null);
    const count = (msg: string): number => server.events.filter((e) => e.msg === msg && e.model === MODEL).length;
    return {
      name,
      promotions,
      start,
      afterWarmup,
      cycles,
      soak,
      soakWindows,
      end,
      load: final,
      loadsLogged: count('model version loaded'),
      releasesLogged: count('model version released'),
      cycleSeconds: options.cycleS,
      loadAvgStart,
      loadAvgEnd: loadAverage(),
    };
  } finally {
    await stopQuiver(server);
  }
}
