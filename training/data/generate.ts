/**
 * The blueprint's synthetic data (the blueprint's "Generate Sample Data" and Flow 1's
 * "new data"): normal features and a linear rule for the binary target. Deterministic per
 * seed through training/random.ts (the blueprint used numpy's seed 42 and 123; these streams
 * are ours, not numpy's, but have the same distribution).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { stringify } from 'csv-stringify/sync';

import { Random } from '../random.js';

export interface GenerateOptions {
  /** Number of rows (default 1000, the blueprint's). */
  readonly rows?: number;
  /** PRNG seed (default 42, the blueprint's). */
  readonly seed?: number;
  /** Mean of every feature (default 0; Flow 1's shifted data uses 0.2). */
  readonly mean?: number;
  /** Standard deviation of every feature (default 1; Flow 1's shifted data uses 1.2). */
  readonly std?: number;
  /**
   * Weights of feature_0, feature_1, ... in the rule `target = 1 if sum(w_i * f_i) > 0 else 0`
   * (default [1, 1, 0.5]; Flow 1's shifted data uses [1, 1, 0.3]). Features past the last
   * weight are noise.
   */
  readonly weights?: readonly number[];
  /** Number of features (default 10). */
  readonly features?: number;
}

/** A table of numbers: `columns` are feature_0..feature_{F-1} then `target`; rows hold values in that order. */
export interface Dataset {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly number[])[];
}

export const DEFAULT_WEIGHTS: readonly number[] = [1, 1, 0.5];
/** Flow 1's "new data": a shifted distribution and a slightly different rule. */
export const SHIFTED: Required<Pick<GenerateOptions, 'mean' | 'std' | 'weights' | 'seed' | 'rows'>> = {
  mean: 0.2,
  std: 1.2,
  weights: [1, 1, 0.3],
  seed: 123,
  rows: 500,
};

export function featureNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `feature_${i}`);
}

export function generateDataset(options: GenerateOptions = {}): Dataset {
  const { rows = 1000, seed = 42, mean = 0, std = 1, weights = DEFAULT_WEIGHTS, features = 10 } = options;
  if (!Number.isInteger(rows) || rows < 0) throw new Error(`rows must be a non-negative integer, got ${rows}`);
  if (!Number.isInteger(features) || features < 1) throw new Error(`features must be a positive integer, got ${features}`);
  if (!(std >= 0) || !Number.isFinite(mean)) throw new Error(`need a finite mean and std >= 0, got mean ${mean}, std ${std}`);
  if (weights.length > features) throw new Error(`${weights.length} weights for only ${features} features`);
  const rng = new Random(seed);
  // Column by column, as the blueprint's numpy code draws them.
  const cols = Array.from({ length: features }, () => Array.from({ length: rows }, () => rng.normal(mean, std)));
  const data = Array.from({ length: rows }, (_, i) => {
    const x = cols.map((c) => c[i] as number);
    const score = weights.reduce((acc, w, j) => acc + w * (x[j] as number), 0);
    return [...x, score > 0 ? 1 : 0];
  });
  return { columns: [...featureNames(features), 'target'], rows: data };
}

/** Any table with a header: generated numbers or the raw strings of a CSV. */
export interface TableLike {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number)[])[];
}

/**
 * The CSV text of a table: a header row, then one line per row; numbers are written with
 * JavaScript's shortest round-trip form, so reading the file back gives the same doubles.
 * These exact bytes are what writeCsv writes and what a training run's dataset sha256 hashes
 * when it is given the table rather than a file.
 */
export function formatCsv(table: TableLike): string {
  return stringify([table.columns as string[], ...(table.rows as (string | number)[][])], { record_delimiter: 'unix' });
}

/** Writes the CSV, creating its folder when needed. */
export function writeCsv(path: string, table: TableLike): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, formatCsv(table));
}
