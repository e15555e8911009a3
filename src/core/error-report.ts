/**
 * What a client is told about a failure, and what the log keeps. A QuiverError's message is
 * ours and safe to send; its cause (a driver's, the filesystem's, S3's or onnxruntime's
 * error) and any error that is not a QuiverError are logged with the request id, never
 * sent: the client's message then names that id, so the operator can find the log line.
 * Every message is passed through `sanitiseMessage` on its way out: one line, no runtime text
 * (onnxruntime's source locations and frames), no absolute path, echoed input clipped; when
 * that took something out, the raw message is logged under the request id too.
 */
import type { Logger } from 'pino';

import { type QuiverError, sanitiseMessage, toQuiverError } from './errors.js';

/** The most of a raw message the log keeps (a message can echo a 4 MiB body's worth of input). */
const RAW_LOG_MAX = 16 * 1024;

export interface ReportedError {
  /** The error as coded (unknown errors: QUIVER_ERR_INTERNAL). */
  readonly error: QuiverError;
  /** The text for the client. */
  readonly message: string;
}

/** Logs what must not reach the client (with `requestId` and `fields`) and returns what may. */
export function reportError(err: unknown, log: Logger | undefined, requestId: string, fields: Record<string, unknown> = {}): ReportedError {
  const error = toQuiverError(err);
  const { text, stripped } = sanitiseMessage(error.message);
  if (error !== err) {
    log?.error({ err, requestId, code: error.code, ...fields }, 'unhandled error');
  } else if (error.cause !== undefined) {
    log?.warn({ err: error.cause, requestId, code: error.code, ...fields }, error.message.slice(0, RAW_LOG_MAX));
  } else if (stripped) {
    log?.warn({ requestId, code: error.code, ...fields }, error.message.slice(0, RAW_LOG_MAX));
  } else {
    return { error, message: text };
  }
  return { error, message: `${text} (request id ${requestId}: see the server log)` };
}
