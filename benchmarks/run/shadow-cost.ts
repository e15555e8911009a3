/**
 * (l) What a shadow rollout costs its callers: Quiver Predict at 4 calls in flight on a
 * registry with two versions of the demo model, shadow off (no rollout) and shadow on (the
 * candidate answers a copy of every request, after the caller's answer). The runs alternate,
 * three each; beside the means, the off runs' spread (max - min) is the noise the difference
 * is measured against.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

import type { LoadResult } from '../lib/h2load.js';
import { loadPredict, meanRow } from './alternating.js';
import type { Row } from './measure.js';
import { freePort, startProcess, stopProcess } from './servers.js';
import { atMost, ratio, type Target } from './target.js';
import type { Bench } from './targets.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const ROUNDS = 3;
const CONCURRENCY = 4;
const LABEL = '(l) Quiver Predict, registry with two versions';
export const SHADOW_OFF = `${LABEL}, shadow off`;
export const SHADOW_ON = `${LABEL}, shadow on (every request copied)`;
export const SHADOW_SPREAD = `${LABEL}, shadow off: run-to-run spread (max - min)`;

const quiver = (args: string[]) => run(process.execPath, ['dist/src/cli/bin.js', ...args], { cwd: ROOT });

/** A registry with the demo model as version 1 (Production) and 2; with `shadow`, a shadow rollout of 2 that never ends during the run. */
async function registryWith(bench: Bench, shadow: boolean): Promise<string> {
  const dataDir = mkdtempSync(join(bench.work, 'shadow-'));
  const flags = ['--model-name', 'production-model', '--data-dir', dataDir];
  for (let i = 0; i < 2; i++) await quiver(['registry', 'upload', '--file', bench.modelPath, ...flags]);
  await quiver(['promote', '--version', '1', '--stage', 'Production', ...flags]);
  if (shadow)
    await quiver([
      'rollout',
      'start',
      '--version',
      '2',
      '--strategy',
      'shadow',
      '--interval',
      '1h',
      '--min-samples',
      '100000000',
      ...flags,
    ]);
  return dataDir;
}

async function runVariant(bench: Bench, shadow: boolean, round: number): Promise<LoadResult> {
  const dataDir = await registryWith(bench, shadow);
  const port = await freePort();
  const child = await startProcess(
    [
      'dist/src/cli/bin.js',
      'serve',
      '--grpc-host',
      '127.0.0.1',
      '--grpc-port',
      String(port),
      '--registry-port',
      '0',
      '--data-dir',
      dataDir,
      '--no-metrics-server',
      '--no-gateway',
      '--log-level',
      'info',
    ],
    /quiver serving/,
  );
  const r = await loadPredict(bench.work, port, CONCURRENCY, `shadow ${shadow ? 'on' : 'off'}`);
  process.stderr.write(`  shadow ${shadow ? 'on' : 'off'} round ${round + 1}: p50 ${r.p50Us} us, p99 ${r.p99Us} us\n`);
  await stopProcess(child);
  return r;
}

const spread = (xs: number[]): number => Math.max(...xs) - Math.min(...xs);

export async function shadowCostRows(bench: Bench): Promise<Row[]> {
  process.stderr.write('(l) shadow rollout cost\n');
  const off: LoadResult[] = [];
  const on: LoadResult[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    off.push(await runVariant(bench, false, round));
    on.push(await runVariant(bench, true, round));
  }
  return [
    meanRow(SHADOW_OFF, CONCURRENCY, off),
    meanRow(SHADOW_ON, CONCURRENCY, on),
    {
      target: SHADOW_SPREAD,
      concurrency: CONCURRENCY,
      requestsPerSecond: spread(off.map((r) => r.requestsPerSecond)),
      rowsPerSecond: spread(off.map((r) => r.requestsPerSecond)),
      p50Us: spread(off.map((r) => r.p50Us)),
      p99Us: spread(off.map((r) => r.p99Us)),
      failed: 0,
    },
  ];
}

/** The caller's p50 and p99 with shadow on: their difference from shadow off, over the off runs' own spread (within the noise: at most 1). */
export function shadowTargets(rows: readonly Row[]): Target[] {
  const named = (label: string): Row | undefined => rows.find((r) => r.target.startsWith(label));
  const off = named(SHADOW_OFF);
  const on = named(SHADOW_ON);
  const noise = named(SHADOW_SPREAD);
  const excess = (k: 'p50Us' | 'p99Us'): number | undefined => {
    const a = on?.[k];
    const b = off?.[k];
    return a == null || b == null ? undefined : Math.max(0, a - b);
  };
  return [
    atMost(
      "shadow on: the caller's p50 over shadow off's, vs the off runs' spread (within the noise)",
      ratio(excess('p50Us'), noise?.p50Us),
      1,
    ),
    atMost(
      "shadow on: the caller's p99 over shadow off's, vs the off runs' spread (within the noise)",
      ratio(excess('p99Us'), noise?.p99Us),
      1,
    ),
  ];
}
