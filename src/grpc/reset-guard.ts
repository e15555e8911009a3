/**
 * Keeps nghttp2's rapid-reset guard (CVE-2023-44487) from failing a connection's calls.
 * nghttp2 (1.57 and later, inside Node's http2) counts every RST_STREAM a server session
 * receives in a token bucket of 1000, refilled at 33 a second; when it runs dry it sends
 * GOAWAY INTERNAL_ERROR, on which a Node (grpc-js) client destroys the whole session: every
 * call on it fails, not only the cancelled ones. A client that cancels many calls (deadlines
 * expiring under overload, hedged requests, a burst of abandoned calls) trips it without
 * malice. Node 22 lets a server size the bucket (the http2 options streamResetBurst and
 * streamResetRate); Node 20 does not, and grpc-js would not pass them on.
 *
 * So each connection counts the resets its client sends, in a bucket of half nghttp2's size
 * refilled at the same rate, and retires the connection before nghttp2's bucket runs dry, in
 * the two steps of RFC 9113's graceful shutdown (as grpc-js does for maxConnectionAgeMs):
 * GOAWAY NO_ERROR naming the highest stream id, so no new streams come but none under way is
 * refused, and nghttp2 counts no more resets on a session that has sent a GOAWAY; then, once
 * the client has seen it (its answer to a PING sent behind it), session.close(): the final
 * GOAWAY names the last stream taken, the calls on it run to their end, and the client's next
 * calls go to a new connection (grpc-js opens one by itself). A client that goes on resetting
 * (a flood) or never answers the PING gets the final GOAWAY sooner: the flood still loses its
 * connection, bounded in resets as before. Half, because this count sees only the resets of
 * streams still open when they arrive: a reset crossing the server's own answer on the wire
 * reaches nghttp2's count but no JavaScript. Relies on grpc-js's `http2Servers` map, as
 * answerBadTimeouts (server.ts) does.
 */
import http2 from 'node:http2';

import type * as grpc from '@grpc/grpc-js';

/** nghttp2's default stream-reset bucket (nghttp2_option_set_stream_reset_rate_limit): 1000, then 33/s. */
const NGHTTP2_RESET_BURST = 1000;
const NGHTTP2_RESET_RATE_PER_S = 33;

/** This guard's bucket: half of nghttp2's burst (see above), the same refill rate. */
const RESET_BURST = NGHTTP2_RESET_BURST / 2;
/**
 * Resets a retiring connection may still send before its final GOAWAY: more than a client can
 * have open (maxConcurrentStreams, 100 by default), as it opens no new streams once told.
 */
const RESETS_WHILE_RETIRING = RESET_BURST / 2;
/** The longest the final GOAWAY waits for the client's PING answer. */
const RETIRE_WAIT_MS = 1000;
/** The highest stream id: the first GOAWAY refuses no stream under way. */
const MAX_STREAM_ID = 2 ** 31 - 1;

/** One connection's resets, and its retirement when they run over the bucket. */
class ResetGuard {
  private tokens = RESET_BURST;
  private refilledAt = performance.now();
  /** Resets since the first GOAWAY; undefined while the connection is not retiring. */
  private whileRetiring: number | undefined;

  constructor(private readonly session: http2.ServerHttp2Session) {}

  /** Counts one reset received. */
  reset(): void {
    if (this.whileRetiring !== undefined) {
      if (++this.whileRetiring > RESETS_WHILE_RETIRING) this.close();
      return;
    }
    const now = performance.now();
    this.tokens = Math.min(RESET_BURST, this.tokens + ((now - this.refilledAt) / 1000) * NGHTTP2_RESET_RATE_PER_S);
    this.refilledAt = now;
    if (this.tokens >= 1) this.tokens--;
    else this.retire();
  }

  private retire(): void {
    const session = this.session;
    if (session.closed || session.destroyed) return;
    this.whileRetiring = 0;
    session.goaway(http2.constants.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
    const timer = setTimeout(() => this.close(), RETIRE_WAIT_MS);
    timer.unref();
    const answered = (): void => {
      clearTimeout(timer);
      this.close();
    };
    if (!session.ping(answered)) answered();
  }

  private close(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }
}

const guarded = new WeakSet<object>();

/**
 * Watches every HTTP/2 server the grpc-js server has bound (call after each bindAsync;
 * idempotent). Returns false when grpc-js keeps them elsewhere (then nothing is watched).
 */
export function retireConnectionsBeforeResetLimit(server: grpc.Server): boolean {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return false;
  for (const h2 of servers.keys() as IterableIterator<http2.Http2Server>) {
    if (guarded.has(h2)) continue;
    guarded.add(h2);
    h2.on('session', (session: http2.ServerHttp2Session) => {
      const guard = new ResetGuard(session);
      session.on('stream', (stream: http2.ServerHttp2Stream) => {
        stream.once('close', () => {
          // NO_ERROR: the stream ended normally (or the server ended it early, which is no reset).
          const code = stream.rstCode;
          if (code !== undefined && code !== http2.constants.NGHTTP2_NO_ERROR) guard.reset();
        });
      });
    });
  }
  return true;
}
