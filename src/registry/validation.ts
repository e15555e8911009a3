/**
 * Checks on what a registry request carries (names, versions, tags, descriptions) and its
 * paging (page size, page tokens), each refusing bad input with INVALID_ARGUMENT.
 */
import { invalidArgument } from '../core/errors.js';
import { isModelName } from '../core/model-name.js';

const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
const MAX_TAGS = 64;
const MAX_TAG_KEY = 128;
const MAX_TAG_VALUE = 4096;
const MAX_DESCRIPTION = 16 * 1024;

export function checkName(field: string, value: string): string {
  if (!isModelName(value)) {
    throw invalidArgument(
      `${field}: ${JSON.stringify(value)} is not a valid name; use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return value;
}

export function checkTags(field: string, tags: Readonly<Record<string, string>>): Record<string, string> {
  const entries = Object.entries(tags);
  if (entries.length > MAX_TAGS) throw invalidArgument(`${field}: at most ${MAX_TAGS} tags`);
  for (const [k, v] of entries) {
    if (k === '' || k.length > MAX_TAG_KEY) throw invalidArgument(`${field}: tag keys must be 1-${MAX_TAG_KEY} characters`);
    if (v.length > MAX_TAG_VALUE) throw invalidArgument(`${field}.${k}: tag values must be at most ${MAX_TAG_VALUE} characters`);
  }
  return { ...tags };
}

export function checkDescription(field: string, d: string | undefined): string | undefined {
  if (d !== undefined && d.length > MAX_DESCRIPTION) throw invalidArgument(`${field}: at most ${MAX_DESCRIPTION} characters`);
  return d;
}

export function checkVersion(field: string, version: number): number {
  if (!Number.isInteger(version) || version < 1) throw invalidArgument(`${field}: ${version} is not a version number (1, 2, 3, ...)`);
  return version;
}

/** An expected sha256 on an upload: '' (none) or 64 lowercase hex digits. */
export function checkSha256(field: string, sha256: string): string {
  if (sha256 !== '' && !/^[0-9a-f]{64}$/.test(sha256)) throw invalidArgument(`${field}: must be 64 lowercase hex digits`);
  return sha256;
}

export function pageSize(n: number): number {
  if (n < 0) throw invalidArgument('page_size: must not be negative');
  return n === 0 ? DEFAULT_PAGE : Math.min(n, MAX_PAGE);
}

export function decodeToken<T>(token: string, fallback: T): T {
  if (token === '') return fallback;
  try {
    return (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a: T }).a;
  } catch {
    throw invalidArgument('page_token: not a token this server issued');
  }
}

export const encodeToken = (after: unknown): string => Buffer.from(JSON.stringify({ a: after })).toString('base64url');
