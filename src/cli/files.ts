/**
 * A command's input and output files: read or written in one place, so every failure names
 * the flag and the path, and an output's folder is created when it does not exist yet.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { type CsvTable, parseCsv } from '../../training/data/csv.js';
import { inputFailure, outputFailure } from './failures.js';

export function readInput(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw inputFailure(flag, path, err);
  }
}

/** A CSV input: a file that is not there and one that is not CSV both name the flag. */
export function readCsvInput(flag: string, path: string): CsvTable {
  return parseCsvInput(flag, path, readInput(flag, path));
}

/** The CSV in `bytes`, read from `path` for `flag`; a parse error names both. */
export function parseCsvInput(flag: string, path: string, bytes: Buffer): CsvTable {
  try {
    return parseCsv(bytes);
  } catch (err) {
    throw inputFailure(flag, path, err);
  }
}

/** Runs `fn`, naming the flag and file in the data errors it throws (a missing column, a non-numeric cell). */
export async function aboutInput<T>(flag: string, path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw inputFailure(flag, path, err);
  }
}

export function writeOutput(flag: string, path: string, text: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  } catch (err) {
    throw outputFailure(flag, path, err);
  }
}

/** An output written as indented JSON. */
export function writeJsonOutput(flag: string, path: string, value: unknown): void {
  writeOutput(flag, path, JSON.stringify(value, null, 2) + '\n');
}
