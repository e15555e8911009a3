/** The `latencyTargets` option: per-model latency objectives, `name=ms` entries separated by commas. */
import { invalidConfig } from '../core/errors.js';
import { isModelName } from '../core/model-name.js';

/** The most a latency objective may be, ms (as latencyTargetMs). */
const MAX_TARGET_MS = 600_000;

/** Model name -> objective in ms (0 = none); throws a one-line config error naming the bad entry. */
export function parseLatencyTargets(text: string): ReadonlyMap<string, number> {
  const targets = new Map<string, number>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const m = /^([^=\s]+)\s*=\s*([0-9]+)$/.exec(entry);
    if (m === null) {
      throw invalidConfig(`option latencyTargets: entry ${JSON.stringify(entry)} is not name=ms (e.g. fraud=20,ranker=150)`);
    }
    const [, name, ms] = m as unknown as [string, string, string];
    if (!isModelName(name)) {
      throw invalidConfig(`option latencyTargets: ${JSON.stringify(name)} is not a model name (lowercase letters, digits, '.', '_', '-')`);
    }
    const value = Number(ms);
    if (value > MAX_TARGET_MS) throw invalidConfig(`option latencyTargets: ${name}=${ms} is over ${MAX_TARGET_MS} ms`);
    if (targets.has(name)) throw invalidConfig(`option latencyTargets: ${name} is given twice`);
    targets.set(name, value);
  }
  return targets;
}
