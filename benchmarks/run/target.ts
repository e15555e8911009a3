/** One target of the table under the rows: its value, its goal (or none, for reference), and how it reads (met, missed by how much). */

export interface Target {
  readonly name: string;
  readonly value: number;
  /** The goal, at least or at most `limit`; null for a value recorded for reference. */
  readonly goal: { readonly op: '>=' | '<='; readonly limit: number } | null;
  /** For a reference value: an expectation shown beside it, never checked. */
  readonly note: string;
  /** What a value that could not be computed means (default "not measured": its section did not run). */
  readonly absent?: string;
}

export const ratio = (a: number | null | undefined, b: number | null | undefined): number => (a == null || b == null ? NaN : a / b);

/** A ratio with a goal of at least `min`. */
export const atLeast = (name: string, value: number, min: number): Target => ({ name, value, goal: { op: '>=', limit: min }, note: '' });

/** A ratio with a goal of at most `max`. */
export const atMost = (name: string, value: number, max: number): Target => ({ name, value, goal: { op: '<=', limit: max }, note: '' });

/** A value recorded for reference; `note` is an expectation shown beside it, never checked. */
export const reference = (name: string, value: number, note = ''): Target => ({ name, value, goal: null, note });

/** The goal column: "<= 1.30", or the reference's note. */
export const goalText = (t: Target): string => (t.goal === null ? t.note : `${t.goal.op} ${t.goal.limit.toFixed(2)}`);

/** Whether the goal was met; null for a reference value or one not measured. */
export function met(t: Target): boolean | null {
  if (t.goal === null || Number.isNaN(t.value)) return null;
  return t.goal.op === '>=' ? t.value >= t.goal.limit : t.value <= t.goal.limit;
}

/** The verdict column: "met", "MISSED by 0.16 (12% over)", "not measured" (or the target's `absent`), or '' for a reference value. */
export function verdict(t: Target): string {
  if (t.goal === null) return '';
  if (Number.isNaN(t.value)) return t.absent ?? 'not measured';
  if (met(t) === true) return 'met';
  const { op, limit } = t.goal;
  const by = Math.abs(t.value - limit);
  const pct = Math.round((by / Math.abs(limit)) * 100);
  // Two decimals, as the table shows values; three where the miss is smaller than that.
  return `MISSED by ${by.toFixed(by < 0.01 ? 3 : 2)} (${pct}% ${op === '<=' ? 'over' : 'under'})`;
}
