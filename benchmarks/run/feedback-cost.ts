/**
 * (k) The prediction log's cost: Quiver Predict at c=64 with the registry (a fresh SQLite one),
 * the log off, the log as by default (every answer, at most 1,000 rows/s), and every answer
 * with no cap. The runs alternate, three each, so drift in the machine's speed is shared; each
 * variant's row is the mean of its runs.
 */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';

import type { LoadResult } from '../lib/h2load.js';
import { loadPredict, meanRow } from './alternating.js';
import type { Row } from './measure.js';
import { startQuiverFromDist, stopProcess } from './servers.js';
import type { Bench } from './targets.js';

interface Variant {
  readonly target: string;
  readonly extra: string[];
}

const ROUNDS = 3;
const CONCURRENCY = 64;

const VARIANTS: readonly Variant[] = [
  { target: '(k) Quiver Predict, registry, prediction log off', extra: ['--prediction-log-sample-rate', '0'] },
  { target: '(k) Quiver Predict, registry, prediction log at most 1,000 rows/s (the default)', extra: [] },
  { target: '(k) Quiver Predict, registry, prediction log of every answer (no cap)', extra: ['--prediction-log-max-rows-per-second', '0'] },
];

/** One server (with a registry of its own) started with the variant's options, one h2load run against it, stopped. */
async function runVariant(bench: Bench, v: Variant, round: number): Promise<LoadResult> {
  const dataDir = mkdtempSync(join(bench.work, 'feedback-'));
  const q = await startQuiverFromDist(bench.modelPath, ['--registry', '--registry-port', '0', '--data-dir', dataDir, ...v.extra]);
  const r = await loadPredict(bench.work, q.port, CONCURRENCY, v.target);
  process.stderr.write(`  ${v.target} round ${round + 1}: ${Math.round(r.requestsPerSecond)} req/s\n`);
  await stopProcess(q.child);
  return r;
}

export async function feedbackCostRows(bench: Bench): Promise<Row[]> {
  process.stderr.write('(k) prediction log cost\n');
  const runs = new Map<string, LoadResult[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of VARIANTS) runs.set(v.target, [...(runs.get(v.target) ?? []), await runVariant(bench, v, round)]);
  }
  return VARIANTS.map((v) => meanRow(v.target, CONCURRENCY, runs.get(v.target) ?? []));
}
