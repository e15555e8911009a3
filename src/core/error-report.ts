/**
 * What a client is told about a failure, and what the log keeps. A QuiverError's message is
 * ours and safe to send; its cause (a driver's, the filesystem's, S3's or onnxruntime's
 * error) and any error that is not a QuiverError are logged with the request id, never
 * sent: the client's message then names that id, so the operator can find the log line.
 */
import type { Logger } from 'pino';

import { type QuiverError, toQuiverError } from './errors.js';

export interface ReportedError {
  /** The error as coded (unknown errors: QUIVER_ERR_INTERNAL). */
  readonly error: QuiverError;
  /** The text for the client. */
  readonly message: string;
}

/** Logs what must not reach the client (with `requestId` and `fields`) and returns what may. */
export function reportError(err: unknown, log: Logger | undefined, requestId: string, fields: Record<string, unknown> = {}): ReportedError {
  const error = toQuiverError(err);
  if (error !== err) {
    log?.error({ err, requestId, code: error.code, ...fields }, 'unhandled error');
  } else if (error.cause !== undefined) {
    log?.warn({ err: error.cause, requestId, code: error.code, ...fields }, error.message);
  } else {
    return { error, message: error.message };
  }
  return { error, message: `${error.message} (request id ${requestId}: see the server log)` };
}
