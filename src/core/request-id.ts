/**
 * Request ids: what ties an error's answer to its log line. A caller's own `x-request-id`
 * (gRPC metadata or HTTP header) is kept when it is a plain token; otherwise each call gets
 * a fresh UUID. Every error answer carries it back (gRPC trailer, HTTP header).
 */
import { randomUUID } from 'node:crypto';

/** The gRPC metadata key and (case-insensitively) the HTTP header. */
export const REQUEST_ID_KEY = 'x-request-id';

const TOKEN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * A prediction's id when its caller gave none: what its answer carries, and what outcomes
 * (RecordOutcomes) name it by.
 */
export const newPredictionId = (): string => randomUUID();

/** A shadow candidate's answer is logged under the caller's answer's id with this suffix, so an outcome joins both. */
export const SHADOW_ID_SUFFIX = '~shadow';

/** The caller's request id if it is a plain token of at most 128 characters, else a new one. */
export function requestIdOf(given: unknown): string {
  const value = Array.isArray(given) ? (given as unknown[])[0] : given;
  return typeof value === 'string' && TOKEN.test(value) ? value : randomUUID();
}
