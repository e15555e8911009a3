/**
 * The cycles of one run: each a promotion to the next version (`quiver promote` from another
 * process, then the old version's release awaited), or in the control a read-only CLI
 * command with the same start-up cost; then the rest of the cycle under load, and a sample.
 */
import { setTimeout as sleep } from 'node:timers/promises';

import { quiverCli } from '../lib/quiver-process.js';
import type { LiveRun } from './live-run.js';
import { MODEL } from './options.js';
import type { CycleRecord } from './records.js';

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Promotes `target` to Production and waits until the server has released `current`. */
async function promote(run: LiveRun, current: number, target: number): Promise<void> {
  const { server, build, dataDir } = run;
  const seen = server.events.length;
  const released = (): boolean =>
    server.events.slice(seen).some((e) => e.msg === 'model version released' && e.model === MODEL && e.version === current);
  await quiverCli(build, ['promote', '--data-dir', dataDir, '--model-name', MODEL, '--version', String(target), '--stage', 'Production']);
  await waitFor(released, 60_000, `version ${current} to be released after promoting ${target}`);
}

/** `options.cycles` cycles, promotions or control, starting with `firstVersion` serving. */
export async function runCycles(run: LiveRun, promotions: boolean, firstVersion: number): Promise<CycleRecord[]> {
  const { name, options, build, dataDir, load } = run;
  const cycles: CycleRecord[] = [];
  let current = firstVersion;
  const versions = options.hidden.map((_, i) => i + 1);
  for (let i = 1; i <= options.cycles; i++) {
    const t0 = Date.now();
    let switchMs: number | null = null;
    if (promotions) {
      const target = versions[(versions.indexOf(current) + 1) % versions.length] as number;
      await promote(run, current, target);
      switchMs = Date.now() - t0;
      current = target;
    } else {
      // The same CLI start-up cost as a promotion, without touching what is served.
      await quiverCli(build, ['registry', 'versions', '--data-dir', dataDir, '--model-name', MODEL]);
    }
    await sleep(Math.max(250, options.cycleS * 1000 - (Date.now() - t0)));
    const window = await load.stats();
    const s = await run.sample(promotions ? 'promote' : 'control', i);
    cycles.push({ cycle: i, version: current, switchMs, sample: s, windowOk: window.windowOk, p99Ms: window.windowP99Ms });
    process.stderr.write(
      `[${name}] cycle ${i}/${options.cycles}: v${current}${switchMs === null ? '' : ` (switched in ${switchMs} ms)`}, RSS ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, ${window.failed} failed so far\n`,
    );
    if (window.failed > 0) process.stderr.write(`[${name}] failures: ${window.errors.join('; ')}\n`);
  }
  return cycles;
}
