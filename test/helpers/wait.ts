/**
 * Tests wait for what they expect to happen, never for the clock: `eventually` polls a
 * condition until it holds. Its deadline only bounds how long a broken test takes to fail, so
 * it is generous: a loaded 2-core CI machine runs many times slower than an idle one.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export const WAIT_MS = 30_000;

/** Resolves with the milliseconds it took once `check` holds; rejects naming `what` after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what = 'the condition', timeoutMs = WAIT_MS): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await check()) return Math.round(performance.now() - t0);
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what}: still not true after ${timeoutMs} ms`);
    await sleep(10);
  }
}
