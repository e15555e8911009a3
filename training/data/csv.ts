/**
 * Reading CSV files for validation and training. readCsv keeps every cell as the raw string
 * (trimmed), so validation can report exactly what is wrong; toMatrix turns a table into
 * numbers and fails with an error naming the row and column of the first bad cell. Bad data
 * is a FAILED_PRECONDITION QuiverError (the CLI names the file and exits 1).
 */
import { readFileSync } from 'node:fs';

import { CsvError, parse } from 'csv-parse/sync';

import { failedPrecondition } from '../../src/core/errors.js';
import type { TableLike } from './generate.js';

export interface CsvTable {
  /** The header row. */
  readonly columns: string[];
  /** Data rows as raw (trimmed) strings; a row may be shorter or longer than the header. */
  readonly rows: string[][];
  /** The file line each data row ends on (1-based; the header is line 1), for error messages. */
  readonly lines?: number[];
}

/** Cells read as missing, the way pandas reads them by default (plus the empty cell). */
export const MISSING_TOKENS: ReadonlySet<string> = new Set(['', 'NA', 'N/A', 'NaN', 'nan', 'null', 'NULL', 'None']);

/** A plain decimal number: no hex, no Infinity, no blanks (Number('') would be 0). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function isMissing(cell: string): boolean {
  return MISSING_TOKENS.has(cell.trim());
}

/** The number a cell holds, or NaN when it is missing or not a plain decimal number. */
export function parseNumber(cell: string): number {
  const s = cell.trim();
  return NUMBER.test(s) ? Number(s) : NaN;
}

/** Parses CSV text (first record = header). Ragged rows are kept, for validation to report. */
export function parseCsv(text: string | Uint8Array): CsvTable {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(typeof text === 'string' ? text : Buffer.from(text), {
      bom: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
      info: true,
    }) as unknown as typeof records;
  } catch (err) {
    // csv-parse's own message names the line (an unclosed quote, a stray character).
    if (err instanceof CsvError) throw failedPrecondition(`not valid CSV: ${err.message}`);
    throw err;
  }
  const [header, ...data] = records;
  return { columns: header?.record ?? [], rows: data.map((d) => d.record), lines: data.map((d) => d.info.lines) };
}

export function readCsv(path: string): CsvTable {
  return parseCsv(readFileSync(path));
}

export interface MatrixOptions {
  /** The label column (default `target`). */
  readonly target?: string;
  /** Feature columns in the order wanted (default: every column but the target, in file order). */
  readonly features?: readonly string[];
}

export interface LabeledMatrix {
  readonly featureNames: string[];
  readonly X: number[][];
  readonly y: number[];
}

/**
 * Numbers from a table. Throws on a missing column, a ragged row, or a cell that is missing
 * or not numeric, naming the column, the data row (1-based) and the file line.
 */
export function toMatrix(table: CsvTable | TableLike, options: MatrixOptions = {}): LabeledMatrix {
  const target = options.target ?? 'target';
  const columns = table.columns;
  if (columns.length === 0) throw failedPrecondition('the file is empty: it needs a header row (the features and target) and data rows');
  const index = (name: string): number => {
    const i = columns.indexOf(name);
    if (i < 0) throw failedPrecondition(`column '${name}' not found (columns: ${columns.join(', ') || 'none'})`);
    return i;
  };
  const targetIndex = index(target);
  const featureNames = options.features ? [...options.features] : columns.filter((c) => c !== target);
  if (featureNames.length === 0) throw failedPrecondition('the table has no feature columns');
  if (table.rows.length === 0) throw failedPrecondition('the file has a header but no data rows');
  const featureIndex = featureNames.map(index);
  const lines = 'lines' in table ? table.lines : undefined;
  const lineOf = (r: number): number => lines?.[r] ?? r + 2;
  const cell = (row: readonly (string | number)[], r: number, c: number): number => {
    const raw = row[c];
    const where = `column '${columns[c]}', row ${r + 1} (line ${lineOf(r)})`;
    if (raw === undefined) throw failedPrecondition(`${where}: the row has ${row.length} fields, the header ${columns.length}`);
    if (typeof raw === 'number') {
      if (!Number.isFinite(raw)) throw failedPrecondition(`${where}: ${raw} is not a finite number`);
      return raw;
    }
    if (isMissing(raw)) throw failedPrecondition(`${where}: missing value ${JSON.stringify(raw)}`);
    const v = parseNumber(raw);
    if (Number.isNaN(v)) throw failedPrecondition(`${where}: ${JSON.stringify(raw)} is not a number`);
    return v;
  };
  const X: number[][] = [];
  const y: number[] = [];
  table.rows.forEach((row, r) => {
    if (row.length !== columns.length) {
      throw failedPrecondition(`row ${r + 1} (line ${lineOf(r)}) has ${row.length} fields, the header ${columns.length}`);
    }
    X.push(featureIndex.map((c) => cell(row, r, c)));
    y.push(cell(row, r, targetIndex));
  });
  return { featureNames, X, y };
}
