/**
 * Data validation before training (the blueprint's validate_data.py): a JSON report of the
 * table's schema, missing values, duplicates, ranges, outliers, class balance and per-feature
 * distributions, with a list of named checks. Errors fail the report; duplicates and outliers
 * are warnings until they pass a configurable fraction. Every field is documented in
 * training/README.md; the CLI writes the report as is and exits non-zero when `passed` is false.
 */
import { type Summary, mean, std, summarize } from '../stats.js';
import { type CsvTable, isMissing, parseNumber } from './csv.js';

export interface ValidateOptions {
  /** The label column (default `target`). */
  readonly target?: string;
  /** class_balance fails when the rarest class is below this share of the rows (default 0.1). */
  readonly minMinorityShare?: number;
  /** duplicates fails (instead of warning) above this fraction of the rows (default 0.05). */
  readonly maxDuplicateFraction?: number;
  /** outliers fails (instead of warning) when any feature has more than this fraction of outliers (default 0.01). */
  readonly maxOutlierFraction?: number;
  /** A value is an outlier when |z| = |x - mean| / std exceeds this (default 4). */
  readonly outlierZ?: number;
}

export type CheckName =
  | 'has_rows'
  | 'unique_columns'
  | 'row_width'
  | 'target_present'
  | 'numeric'
  | 'no_missing'
  | 'target_binary'
  | 'class_balance'
  | 'duplicates'
  | 'outliers';

export type CheckLevel = 'ok' | 'warning' | 'error';

export interface Check {
  readonly name: CheckName;
  /** false only for level `error`; a warning passes. */
  readonly passed: boolean;
  readonly level: CheckLevel;
  readonly message: string;
  readonly details: Record<string, unknown>;
}

export type ColumnType = 'integer' | 'float' | 'string' | 'empty';

export interface ColumnSchema {
  readonly type: ColumnType;
  readonly role: 'feature' | 'target';
  /** Cells holding a number. */
  readonly numeric: number;
  /** Cells that are missing (see MISSING_TOKENS) or absent from a short row. */
  readonly missing: number;
  /** Cells that are present but not a number. */
  readonly nonNumeric: number;
}

export interface ValidationReport {
  readonly passed: boolean;
  readonly target: string;
  readonly rows: number;
  readonly columns: number;
  readonly options: Required<Omit<ValidateOptions, 'target'>>;
  readonly checks: Check[];
  readonly schema: Record<string, ColumnSchema>;
  readonly missing: Record<string, number>;
  readonly duplicates: number;
  readonly ranges: Record<string, { min: number; max: number } | null>;
  readonly outliers: { method: 'z-score'; threshold: number; counts: Record<string, number> };
  readonly classBalance: {
    counts: Record<string, number>;
    minorityClass: string | null;
    minorityShare: number;
    threshold: number;
  } | null;
  readonly features: Record<string, Summary | null>;
}

/** How many examples (rows, values) a check's details list at most. */
const EXAMPLES = 10;

/** A record safe for any column name (`__proto__` included). */
function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function check(name: CheckName, level: CheckLevel, message: string, details: Record<string, unknown> = {}): Check {
  return { name, passed: level !== 'error', level, message, details };
}

const share = (n: number, total: number): number => (total === 0 ? 0 : n / total);

export function validateDataset(csv: CsvTable, options: ValidateOptions = {}): ValidationReport {
  const target = options.target ?? 'target';
  const opts = {
    minMinorityShare: options.minMinorityShare ?? 0.1,
    maxDuplicateFraction: options.maxDuplicateFraction ?? 0.05,
    maxOutlierFraction: options.maxOutlierFraction ?? 0.01,
    outlierZ: options.outlierZ ?? 4,
  };
  const { columns, rows } = csv;
  const n = rows.length;
  const lineOf = (r: number): number => csv.lines?.[r] ?? r + 2;
  const checks: Check[] = [];

  checks.push(
    n > 0 && columns.length > 0
      ? check('has_rows', 'ok', `${n} rows, ${columns.length} columns`)
      : check('has_rows', 'error', columns.length === 0 ? 'the file has no header and no rows' : 'the file has a header but no data rows'),
  );

  const seen = new Set<string>();
  const repeated = columns.filter((c) => (seen.has(c) ? true : (seen.add(c), false)));
  const blank = columns.flatMap((c, i) => (c === '' ? [i + 1] : []));
  checks.push(
    repeated.length === 0 && blank.length === 0
      ? check('unique_columns', 'ok', 'column names are unique and non-empty')
      : check('unique_columns', 'error', 'column names must be unique and non-empty', { repeated, blankPositions: blank }),
  );

  const ragged = rows.flatMap((row, r) => (row.length !== columns.length ? [r] : []));
  checks.push(
    ragged.length === 0
      ? check('row_width', 'ok', `every row has ${columns.length} fields`)
      : check('row_width', 'error', `${ragged.length} rows do not have ${columns.length} fields`, {
          count: ragged.length,
          examples: ragged.slice(0, EXAMPLES).map((r) => ({ row: r + 1, line: lineOf(r), fields: rows[r]?.length ?? 0 })),
        }),
  );

  const targetIndex = columns.indexOf(target);
  checks.push(
    targetIndex >= 0
      ? check('target_present', 'ok', `target column '${target}' found`)
      : check('target_present', 'error', `target column '${target}' not found`, { columns }),
  );

  // One pass over the cells: per column, its numbers and what is missing or not numeric.
  const numbers: number[][] = columns.map(() => []);
  const missingCounts = columns.map(() => 0);
  const nonNumericCounts = columns.map(() => 0);
  let allIntegers = columns.map(() => true);
  const nonNumericExamples: { column: string; row: number; line: number; value: string }[] = [];
  rows.forEach((row, r) => {
    columns.forEach((name, c) => {
      const raw = row[c];
      if (raw === undefined || isMissing(raw)) {
        missingCounts[c]!++;
        return;
      }
      const v = parseNumber(raw);
      if (Number.isNaN(v)) {
        nonNumericCounts[c]!++;
        if (nonNumericExamples.length < EXAMPLES) nonNumericExamples.push({ column: name, row: r + 1, line: lineOf(r), value: raw });
        return;
      }
      numbers[c]!.push(v);
      if (!Number.isInteger(v)) allIntegers[c] = false;
    });
  });
  allIntegers = allIntegers.map((ok, c) => ok && numbers[c]!.length > 0);

  const schema = record<ColumnSchema>();
  const missing = record<number>();
  columns.forEach((name, c) => {
    const nonNumeric = nonNumericCounts[c]!;
    const type: ColumnType = nonNumeric > 0 ? 'string' : numbers[c]!.length === 0 ? 'empty' : allIntegers[c] ? 'integer' : 'float';
    schema[name] = {
      type,
      role: c === targetIndex ? 'target' : 'feature',
      numeric: numbers[c]!.length,
      missing: missingCounts[c]!,
      nonNumeric,
    };
    missing[name] = missingCounts[c]!;
  });

  const nonNumericTotal = nonNumericCounts.reduce((a, b) => a + b, 0);
  const countsByColumn = (counts: number[]): Record<string, number> => {
    const out = record<number>();
    columns.forEach((name, c) => {
      if ((counts[c] ?? 0) > 0) out[name] = counts[c]!;
    });
    return out;
  };
  checks.push(
    nonNumericTotal === 0
      ? check('numeric', 'ok', 'every present value is a number')
      : check('numeric', 'error', `${nonNumericTotal} values are not numbers`, {
          counts: countsByColumn(nonNumericCounts),
          examples: nonNumericExamples,
        }),
  );

  const missingTotal = missingCounts.reduce((a, b) => a + b, 0);
  checks.push(
    missingTotal === 0
      ? check('no_missing', 'ok', 'no missing values')
      : check('no_missing', 'error', `${missingTotal} values are missing`, { counts: countsByColumn(missingCounts) }),
  );

  // The target: binary 0/1, both classes well represented.
  let classBalance: ValidationReport['classBalance'] = null;
  if (targetIndex < 0) {
    checks.push(check('target_binary', 'error', `cannot check: target column '${target}' is missing`));
    checks.push(check('class_balance', 'error', `cannot check: target column '${target}' is missing`));
  } else {
    const counts = record<number>();
    counts['0'] = 0;
    counts['1'] = 0;
    const other = new Set<string>();
    for (const row of rows) {
      const raw = row[targetIndex];
      if (raw === undefined || isMissing(raw)) continue;
      const v = parseNumber(raw);
      // "1" and "1.0" are the same class; a non-number is its own.
      const key = Number.isNaN(v) ? raw : String(v);
      counts[key] = (counts[key] ?? 0) + 1;
      if (key !== '0' && key !== '1') other.add(raw);
    }
    checks.push(
      other.size === 0
        ? check('target_binary', 'ok', `target '${target}' holds only 0 and 1`)
        : check('target_binary', 'error', `target '${target}' must hold only 0 and 1`, { otherValues: [...other].slice(0, EXAMPLES) }),
    );
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    let minorityClass: string | null = null;
    for (const [k, v] of Object.entries(counts)) if (minorityClass === null || v < counts[minorityClass]!) minorityClass = k;
    const minorityShare = share(minorityClass === null ? 0 : counts[minorityClass]!, total);
    classBalance = { counts, minorityClass, minorityShare, threshold: opts.minMinorityShare };
    const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
    checks.push(
      minorityShare >= opts.minMinorityShare
        ? check('class_balance', 'ok', `minority class ${minorityClass} is ${pct(minorityShare)} of the labels`, { counts })
        : check(
            'class_balance',
            'error',
            `minority class ${minorityClass} is ${pct(minorityShare)} of the labels, below ${pct(opts.minMinorityShare)}`,
            { counts },
          ),
    );
  }

  // Duplicates: rows equal (cell by cell, as written) to an earlier row.
  const firstSeen = new Map<string, number>();
  const duplicateExamples: { row: number; sameAs: number }[] = [];
  let duplicates = 0;
  rows.forEach((row, r) => {
    const key = JSON.stringify(row);
    const first = firstSeen.get(key);
    if (first === undefined) firstSeen.set(key, r);
    else {
      duplicates++;
      if (duplicateExamples.length < EXAMPLES) duplicateExamples.push({ row: r + 1, sameAs: first + 1 });
    }
  });
  const dupFraction = share(duplicates, n);
  checks.push(
    duplicates === 0
      ? check('duplicates', 'ok', 'no duplicate rows')
      : check(
          'duplicates',
          dupFraction > opts.maxDuplicateFraction ? 'error' : 'warning',
          `${duplicates} rows repeat an earlier row (${(100 * dupFraction).toFixed(2)}%, limit ${(100 * opts.maxDuplicateFraction).toFixed(2)}%)`,
          { count: duplicates, fraction: dupFraction, examples: duplicateExamples },
        ),
  );

  // Per feature: range, distribution, outliers by z-score, over the values that are numbers.
  const ranges = record<{ min: number; max: number } | null>();
  const features = record<Summary | null>();
  const outlierCounts = record<number>();
  const overLimit: string[] = [];
  columns.forEach((name, c) => {
    if (c === targetIndex) return;
    const values = numbers[c]!;
    if (values.length === 0) {
      ranges[name] = null;
      features[name] = null;
      outlierCounts[name] = 0;
      return;
    }
    const summary = summarize(values);
    features[name] = summary;
    ranges[name] = { min: summary.min, max: summary.max };
    const mu = mean(values);
    const sd = std(values, mu);
    const count = sd > 0 ? values.filter((v) => Math.abs(v - mu) / sd > opts.outlierZ).length : 0;
    outlierCounts[name] = count;
    if (share(count, values.length) > opts.maxOutlierFraction) overLimit.push(name);
  });
  const outlierTotal = Object.values(outlierCounts).reduce((a, b) => a + b, 0);
  const withOutliers = countsByColumn(columns.map((name) => outlierCounts[name] ?? 0));
  checks.push(
    outlierTotal === 0
      ? check('outliers', 'ok', `no feature value has |z| > ${opts.outlierZ}`)
      : check(
          'outliers',
          overLimit.length > 0 ? 'error' : 'warning',
          overLimit.length > 0
            ? `features with more than ${(100 * opts.maxOutlierFraction).toFixed(2)}% outliers (|z| > ${opts.outlierZ}): ${overLimit.join(', ')}`
            : `${outlierTotal} feature values have |z| > ${opts.outlierZ}`,
          { counts: withOutliers, overLimit },
        ),
  );

  return {
    passed: checks.every((c) => c.passed),
    target,
    rows: n,
    columns: columns.length,
    options: opts,
    checks,
    schema,
    missing,
    duplicates,
    ranges,
    outliers: { method: 'z-score', threshold: opts.outlierZ, counts: outlierCounts },
    classBalance,
    features,
  };
}
