/**
 * Train/holdout split: a seeded shuffle, optionally stratified so both parts keep the label
 * mix. Holdout size rounds up (as scikit-learn's train_test_split does) and both parts keep
 * at least one row when there are two or more.
 */
import { Random } from './random.js';

export interface SplitOptions {
  /** Fraction of rows held out, 0 <= holdout < 1 (default 0.2). */
  readonly holdout?: number;
  readonly seed?: number;
  /** Labels to stratify by (one per row); each class is split in the holdout proportion. */
  readonly stratify?: readonly number[];
}

export interface Split {
  /** Row indices, in shuffled order. */
  readonly train: number[];
  readonly holdout: number[];
}

function holdoutCount(n: number, fraction: number): number {
  if (fraction === 0 || n < 2) return 0;
  return Math.min(n - 1, Math.max(1, Math.ceil(n * fraction)));
}

export function splitIndices(n: number, options: SplitOptions = {}): Split {
  const { holdout = 0.2, seed = 42, stratify } = options;
  if (!(holdout >= 0 && holdout < 1)) throw new Error(`holdout must be in [0, 1), got ${holdout}`);
  if (stratify !== undefined && stratify.length !== n) throw new Error(`stratify has ${stratify.length} labels for ${n} rows`);
  const rng = new Random(seed);
  const all = Array.from({ length: n }, (_, i) => i);
  if (stratify === undefined) {
    rng.shuffle(all);
    const k = holdoutCount(n, holdout);
    return { holdout: all.slice(0, k), train: all.slice(k) };
  }
  const byClass = new Map<number, number[]>();
  for (const i of all) {
    const label = stratify[i] as number;
    const members = byClass.get(label) ?? [];
    members.push(i);
    byClass.set(label, members);
  }
  const target = holdoutCount(n, holdout);
  const train: number[] = [];
  const held: number[] = [];
  // Classes in label order, so the result does not depend on which class comes first.
  for (const [, members] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    rng.shuffle(members);
    const k = Math.min(members.length, Math.round(members.length * holdout));
    held.push(...members.slice(0, k));
    train.push(...members.slice(k));
  }
  // Per-class rounding can miss the overall count by a row or two: move rows to fix it.
  while (held.length < target && train.length > 1) held.push(train.splice(rng.int(train.length), 1)[0] as number);
  while (held.length > target && held.length > 1) train.push(held.splice(rng.int(held.length), 1)[0] as number);
  return { train: rng.shuffle(train), holdout: rng.shuffle(held) };
}
