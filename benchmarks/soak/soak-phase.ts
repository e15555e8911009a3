/** The soak itself: `minutes` more of the same load on the same server, its memory sampled every `--sample` s. */
import { setTimeout as sleep } from 'node:timers/promises';

import type { LiveRun } from './live-run.js';
import type { MemSample } from './memory.js';
import type { SoakWindow } from './records.js';

/** The samples (the first at the start), and the load in each window before a sample; none when `minutes` is 0. */
export async function runSoak(run: LiveRun, minutes: number): Promise<{ soak: MemSample[]; soakWindows: SoakWindow[] }> {
  const { name, load } = run;
  const sampleS = run.options.sampleS;
  const soak: MemSample[] = [];
  const soakWindows: SoakWindow[] = [];
  if (!(minutes > 0)) return { soak, soakWindows };
  await load.stats(); // start the first window with the soak
  const t0 = Date.now();
  soak.push(await run.sample('soak', null));
  process.stderr.write(`[${name}] soak: ${minutes} min, RSS every ${sampleS}s\n`);
  while (Date.now() - t0 < minutes * 60_000) {
    await sleep(Math.min(sampleS * 1000, minutes * 60_000 - (Date.now() - t0)));
    const s = await run.sample('soak', null);
    soak.push(s);
    const w = await load.stats();
    soakWindows.push({ t: s.t, windowOk: w.windowOk, p99Ms: w.windowP99Ms });
    if (soak.length % 6 === 1 || w.failed > 0)
      process.stderr.write(
        `[${name}] soak ${Math.round((Date.now() - t0) / 1000)}s: RSS ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, ${w.failed} failed so far\n`,
      );
  }
  return { soak, soakWindows };
}
