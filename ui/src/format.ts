/** How the console writes numbers and times: one rule, so the tests can read them back. */

/** A metric or statistic: 4 decimals; "—" when absent or not finite. */
export function num(v: number | undefined, digits = 4): string {
  return v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits);
}

/** A share as a percentage with 2 decimals. */
export function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(2)}%`;
}

/** A count with thousands separators. */
export function count(v: number | undefined): string {
  return v === undefined ? '0' : v.toLocaleString('en-US');
}

/** An RFC 3339 time as "2026-12-07 03:29:30 UTC". */
export function time(iso: string | undefined): string {
  if (iso === undefined || iso === '') return '—';
  return `${iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')} UTC`;
}

/** A sha256 shortened to 12 characters (the full one in the title). */
export const shortSha = (sha: string | undefined): string => (sha ?? '').slice(0, 12);

/** The contract's stage enum as a word. */
export function stageName(stage: string | undefined): string {
  switch (stage) {
    case 'STAGE_PRODUCTION':
      return 'Production';
    case 'STAGE_STAGING':
      return 'Staging';
    case 'STAGE_ARCHIVED':
      return 'Archived';
    default:
      return 'None';
  }
}
