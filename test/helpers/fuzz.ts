/**
 * fast-check's seed for the property tests. CI runs a fixed seed so that a red run can be
 * replayed exactly; `QUIVER_FUZZ_SEED=random` (a fresh seed each run, printed on failure) or
 * `QUIVER_FUZZ_SEED=<n>` explores further, as developers do before they land a change.
 */
import fc from 'fast-check';

export const FUZZ_SEED_DEFAULT = 20261127;

export function configureFuzz(): void {
  const given = process.env.QUIVER_FUZZ_SEED;
  if (given === 'random') return;
  const seed = given === undefined || given === '' ? FUZZ_SEED_DEFAULT : Number(given);
  if (!Number.isInteger(seed)) throw new Error(`QUIVER_FUZZ_SEED must be an integer or "random", got ${JSON.stringify(given)}`);
  fc.configureGlobal({ seed });
}
