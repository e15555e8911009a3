/**
 * Malformed gRPC traffic over a raw HTTP/2 connection (issue 7, point 4): a `node:http2` client,
 * no gRPC library on its side, sends a real server (in this process, on loopback) frames that a
 * gRPC client would never send, and reads the grpc-status from the response headers (a
 * trailers-only answer) or trailers:
 * - length prefixes that lie (fewer bytes than declared, more, or far over the receive limit);
 * - the compressed flag set without (or with a bogus, or an unsupported) grpc-encoding;
 * - frames cut short (mid-header or mid-body, then the stream ends);
 * - random bytes (fast-check) as a PredictRequest, checked against the server's own decoder;
 * - bursts of hundreds of streams reset at once, mid-request, or while the model runs;
 * - a wrong content-type, unknown methods, a bad grpc-timeout.
 * After all of it the process still answers a normal Predict (grpc-js client) and health says
 * SERVING, no call is left in flight, and the heap has not grown beyond a generous bound.
 *
 * What grpc-js 1.14 does, read from build/src/server-interceptors.js and stream-decoder.js:
 * - a declared length over grpc.max_receive_message_length is RESOURCE_EXHAUSTED as soon as the
 *   5-byte header is read (nothing is allocated for the body);
 * - the stream ending before a whole message (a short body, a cut header, nothing at all) is
 *   UNIMPLEMENTED "Received no request message ..." for a unary method; a second whole message
 *   is UNIMPLEMENTED "Received a second request message ..."; bytes after the first message
 *   that do not make a whole frame header are ignored;
 * - the compressed flag is honoured only with a grpc-encoding of gzip or deflate: without the
 *   header (or with `identity`) grpc-js reads the bytes as they are (grpc-go would answer
 *   INTERNAL); bytes that do not inflate are INTERNAL "Failed to decompress message"; an
 *   unknown encoding is UNIMPLEMENTED; a message inflating past the limit is RESOURCE_EXHAUSTED;
 * - a content-type not starting with application/grpc is HTTP 415 with no grpc-status.
 * Quiver's own decoders (src/grpc/codec.ts) turn undecodable Predict bytes into
 * INVALID_ARGUMENT "the request message could not be decoded: ...".
 */
import http2 from 'node:http2';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deflateSync, gzipSync } from 'node:zlib';

import * as grpc from '@grpc/grpc-js';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';

import { check, healthClient } from '../src/grpc/health-client.js';
import { decodePredictRequest, LimitExceeded } from '../src/contract/codec.js';
import { PredictRequest, PredictResponse } from '../src/gen/quiver/v1/prediction.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { configureFuzz } from './helpers/fuzz.js';
import { request, type Running, startServer } from './helpers/server.js';
import { eventually, WAIT_MS } from './helpers/wait.js';

configureFuzz();

const PREDICT = '/quiver.v1.PredictionService/Predict';
const MiB = 1024 * 1024;

const dir = tmp();
let srv: Running;
/** The receive limit the server runs with (the default, 16 MiB). */
let maxReceive: number;
let baseline: NodeJS.MemoryUsage;

/** A full GC where V8 lets us ask for one (the flag can be set at run time); undefined otherwise. */
const gc: (() => void) | undefined = (() => {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
})();

function memory(): NodeJS.MemoryUsage {
  gc?.();
  return process.memoryUsage();
}

/** The server's in-flight gRPC calls (private to QuiverServer; read for the leak check). */
const inflight = (): number => (srv.server as unknown as { grpc: { inflight: { size: number } } }).grpc.inflight.size;

const validRequest = (): Buffer => Buffer.from(PredictRequest.encode(request({ features: blueprintFeatures(BLUEPRINT_ROW) })).finish());

/** A gRPC frame: flag, a (possibly lying) big-endian length, then the body. */
function frame(body: Uint8Array, options: { flag?: number; length?: number } = {}): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(options.flag ?? 0, 0);
  header.writeUInt32BE(options.length ?? body.length, 1);
  return Buffer.concat([header, body]);
}

// ---- A raw HTTP/2 exchange ----

interface Reply {
  /** The HTTP :status. */
  readonly http: number;
  /** grpc-status from the trailers, or from the headers of a trailers-only answer. */
  readonly status: number | undefined;
  readonly message: string;
  /** The DATA the server sent (its framed response messages). */
  readonly body: Buffer;
}

interface Send {
  readonly path?: string;
  /** Replace the default request headers (content-type, te) with these, after :method and :path. */
  readonly headers?: http2.OutgoingHttpHeaders;
  readonly chunks?: readonly Buffer[];
  /** End our side after the chunks (default true); false leaves the stream open. */
  readonly end?: boolean;
}

function connect(): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${srv.address}`);
    session.once('connect', () => resolve(session));
    session.once('error', reject);
  });
}

function closeSession(session: http2.ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (session.closed || session.destroyed) resolve();
    else session.close(() => resolve());
  });
}

/**
 * grpc-message, percent-decoded where it can be: grpc-js encodes a status's details with
 * encodeURI, except for UNIMPLEMENTED on an unknown path, whose message carries the path as sent.
 */
function percentDecoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One stream's exchange; `timeoutMs` only bounds how long a server that never answers takes to fail the test. */
function exchange(session: http2.ClientHttp2Session, send: Send, timeoutMs = WAIT_MS): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      ':method': 'POST',
      ':path': send.path ?? PREDICT,
      ...(send.headers ?? { 'content-type': 'application/grpc', te: 'trailers' }),
    });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const body: Buffer[] = [];
    let settled = false;
    const done = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      if (err !== undefined) return reject(err);
      const status = trailers['grpc-status'] ?? headers['grpc-status'];
      const message = trailers['grpc-message'] ?? headers['grpc-message'];
      resolve({
        http: Number(headers[':status']),
        status: status === undefined ? undefined : Number(status),
        message: message === undefined ? '' : percentDecoded(String(message)),
        body: Buffer.concat(body),
      });
    };
    const timer = setTimeout(() => done(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    req.on('response', (h) => (headers = h));
    req.on('trailers', (h) => (trailers = h));
    req.on('data', (c: Buffer) => body.push(c));
    // Whatever the server sent is all there is once its side has ended.
    req.on('end', () => done());
    req.on('close', () => done());
    req.on('error', (err) => done(err));
    for (const c of send.chunks ?? []) req.write(c);
    if (send.end !== false) req.end();
  });
}

/** Asserts the reply's grpc-status (by name, for readable failures) and its message. */
function expectStatus(t: ExecutionContext, reply: Reply, code: grpc.status, message?: RegExp, what = ''): void {
  t.is(reply.http, 200, what);
  t.is(grpc.status[reply.status ?? -1], grpc.status[code], `${what}: ${reply.message}`);
  if (message !== undefined) t.regex(reply.message, message, what);
}

/** The one PredictResponse of an OK reply. */
function prediction(reply: Reply): PredictResponse {
  if (reply.body.length < 5) throw new Error(`no response message (status ${reply.status}: ${reply.message})`);
  const length = reply.body.readUInt32BE(1);
  return PredictResponse.decode(reply.body.subarray(5, 5 + length));
}

function expectPrediction(t: ExecutionContext, reply: Reply, what = ''): void {
  expectStatus(t, reply, grpc.status.OK, undefined, what);
  t.is(prediction(reply).prediction, 1, what);
}

/** fc.assert, with the property's own error in the message (ava prints no `cause`). */
async function property<T>(p: fc.IAsyncProperty<T>, numRuns: number): Promise<void> {
  try {
    await fc.assert(p, { numRuns });
  } catch (err) {
    const cause = (err as Error).cause;
    throw new Error(`${(err as Error).message}\n${cause instanceof Error ? cause.message : String(cause)}`, { cause: err });
  }
}

async function withSession<T>(fn: (s: http2.ClientHttp2Session) => Promise<T>): Promise<T> {
  const session = await connect();
  try {
    return await fn(session);
  } finally {
    await closeSession(session);
  }
}

// ---- Setup ----

test.before(async () => {
  srv = await startServer({ models: [`production-model=${writeModel(dir, 'demo.onnx', demoModel())}`] });
  maxReceive = srv.server.options.maxReceiveMessageBytes;
  // Warm up both paths (grpc-js and raw) before the baseline, so first-use allocations do not count.
  await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  await withSession(async (s) => {
    for (let i = 0; i < 20; i++) await exchange(s, { chunks: [frame(validRequest())] });
  });
  baseline = memory();
});

test.after.always(async () => {
  await srv?.close();
});

// All serial: the final test measures what the whole barrage left behind.

test.serial('a well-formed raw request is answered OK (the harness itself)', async (t) => {
  await withSession(async (s) => {
    expectPrediction(t, await exchange(s, { chunks: [frame(validRequest())] }));
    // The frame split across many DATA frames, one byte at a time, is the same request.
    const bytes = frame(validRequest());
    expectPrediction(t, await exchange(s, { chunks: [...bytes].map((b) => Buffer.of(b)) }), 'byte by byte');
  });
});

test.serial('lying length prefixes: too few bytes, too many, far over the receive limit', async (t) => {
  const body = validRequest();
  await withSession(async (s) => {
    // Declares more than is sent, then ends: no whole message ever arrives.
    for (const extra of [1, 10, 1000, MiB]) {
      const reply = await exchange(s, { chunks: [frame(body, { length: body.length + extra })] });
      expectStatus(t, reply, grpc.status.UNIMPLEMENTED, /^Received no request message/, `declared +${extra}`);
    }
    // Declares exactly the limit (allowed) and sends 10 bytes: nothing is allocated up front.
    const atLimit = await exchange(s, { chunks: [frame(body.subarray(0, 10), { length: maxReceive })] });
    expectStatus(t, atLimit, grpc.status.UNIMPLEMENTED, /^Received no request message/, 'declared = limit');

    // Declares fewer than is sent: the message is the truncated prefix (its last feature entry
    // cut), which the decoder refuses; the 3 leftover bytes are an incomplete next header, ignored.
    const short = await exchange(s, { chunks: [frame(body, { length: body.length - 3 })] });
    expectStatus(t, short, grpc.status.INVALID_ARGUMENT, /^the request message could not be decoded: /, 'declared -3');
    // A whole message followed by stray bytes too few for a header: the message is served.
    expectPrediction(t, await exchange(s, { chunks: [frame(body), Buffer.of(0, 0, 1)] }), 'trailing partial header');
    // ... followed by a second whole (empty) frame: a unary method takes one message.
    const second = await exchange(s, { chunks: [frame(body), frame(Buffer.alloc(0))] });
    expectStatus(t, second, grpc.status.UNIMPLEMENTED, /^Received a second request message/, 'second message');

    // Far over the limit: refused from the header alone, whatever follows.
    for (const length of [maxReceive + 1, 2 ** 31 - 1, 2 ** 32 - 1]) {
      const reply = await exchange(s, { chunks: [frame(body, { length })] });
      expectStatus(
        t,
        reply,
        grpc.status.RESOURCE_EXHAUSTED,
        new RegExp(`^Received message larger than max \\(${length} vs ${maxReceive}\\)`),
      );
      // The header alone, the stream left open: refused at once (nothing else would ever end it).
      const open = await exchange(s, { chunks: [frame(Buffer.alloc(0), { length })], end: false });
      expectStatus(t, open, grpc.status.RESOURCE_EXHAUSTED, /^Received message larger than max/, 'header only, stream open');
    }
    // A valid message first, then an oversized header on the same stream.
    const late = await exchange(s, { chunks: [frame(body), frame(Buffer.alloc(0), { length: 2 ** 32 - 1 })] });
    expectStatus(t, late, grpc.status.RESOURCE_EXHAUSTED, /^Received message larger than max/, 'oversized second header');

    // Declares more than is sent and never ends: the client's deadline ends the call.
    const stalled = await exchange(s, {
      headers: { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m' },
      chunks: [frame(body, { length: body.length + 100 })],
      end: false,
    });
    expectStatus(t, stalled, grpc.status.DEADLINE_EXCEEDED, /^Deadline exceeded/, 'stalled body');
  });
});

test.serial('lying length prefixes, generated: over the limit is RESOURCE_EXHAUSTED, short is UNIMPLEMENTED', async (t) => {
  let runs = 0;
  await withSession(async (s) => {
    await property(
      fc.asyncProperty(
        fc.oneof(
          // Over the limit; the stream ended or left open: refused from the header alone.
          fc.record({
            length: fc.integer({ min: maxReceive + 1, max: 2 ** 32 - 1 }),
            bytes: fc.uint8Array({ maxLength: 64 }),
            end: fc.boolean(),
          }),
          // Within it, more declared than sent, then the end: no message.
          fc
            .record({ bytes: fc.uint8Array({ maxLength: 64 }), more: fc.integer({ min: 1, max: maxReceive }) })
            .map(({ bytes, more }) => ({ length: Math.min(maxReceive, bytes.length + more), bytes, end: true })),
        ),
        async ({ length, bytes, end }) => {
          runs++;
          const reply = await exchange(s, { chunks: [frame(bytes, { length })], end });
          const want = length > maxReceive ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNIMPLEMENTED;
          if (reply.status !== want) {
            throw new Error(`declared ${length}, sent ${bytes.length}, end ${end}: ${grpc.status[reply.status ?? -1]} ${reply.message}`);
          }
        },
      ),
      60,
    );
  });
  t.true(runs >= 60);
});

test.serial('the compressed flag: ignored without grpc-encoding, honoured with gzip/deflate, refused otherwise', async (t) => {
  const body = validRequest();
  const headers = (encoding?: string): http2.OutgoingHttpHeaders => ({
    'content-type': 'application/grpc',
    te: 'trailers',
    ...(encoding === undefined ? {} : { 'grpc-encoding': encoding }),
  });
  await withSession(async (s) => {
    // Flag 1 and no grpc-encoding: grpc-js takes the encoding to be identity and reads the
    // bytes as they are (grpc-go would answer INTERNAL here; grpc-js does not).
    expectPrediction(t, await exchange(s, { chunks: [frame(body, { flag: 1 })] }), 'flag 1, no encoding');
    expectPrediction(t, await exchange(s, { headers: headers('identity'), chunks: [frame(body, { flag: 1 })] }), 'flag 1, identity');
    // ... so compressed bytes sent that way reach Quiver's decoder as they are, and are refused.
    const gzNoHeader = await exchange(s, { chunks: [frame(gzipSync(body), { flag: 1 })] });
    expectStatus(t, gzNoHeader, grpc.status.INVALID_ARGUMENT, /^the request message could not be decoded: /, 'gzip bytes, no encoding');
    // Any flag other than 1 means "not compressed", even with an encoding declared.
    expectPrediction(t, await exchange(s, { headers: headers('gzip'), chunks: [frame(body, { flag: 2 })] }), 'flag 2, gzip');
    expectPrediction(t, await exchange(s, { headers: headers('gzip'), chunks: [frame(body, { flag: 0 })] }), 'flag 0, gzip');

    // Really compressed: served.
    expectPrediction(t, await exchange(s, { headers: headers('gzip'), chunks: [frame(gzipSync(body), { flag: 1 })] }), 'gzip');
    expectPrediction(t, await exchange(s, { headers: headers('deflate'), chunks: [frame(deflateSync(body), { flag: 1 })] }), 'deflate');
    // Declared gzip or deflate, but the bytes do not inflate.
    for (const encoding of ['gzip', 'deflate']) {
      for (const bytes of [body, Buffer.alloc(0), gzipSync(body).subarray(0, 12)]) {
        const reply = await exchange(s, { headers: headers(encoding), chunks: [frame(bytes, { flag: 1 })] });
        expectStatus(t, reply, grpc.status.INTERNAL, /^Failed to decompress message$/, `${encoding}, ${bytes.length} bad bytes`);
      }
    }
    // An encoding grpc-js does not know.
    for (const encoding of ['br', 'snappy', 'zstd', '']) {
      const reply = await exchange(s, { headers: headers(encoding), chunks: [frame(body, { flag: 1 })] });
      expectStatus(t, reply, grpc.status.UNIMPLEMENTED, /^Received message compressed with unsupported encoding/, `encoding '${encoding}'`);
    }
    // A small message that inflates past the receive limit (a zip bomb): cut off while inflating.
    const bomb = gzipSync(Buffer.alloc(maxReceive + MiB));
    t.true(bomb.length < 64 * 1024, `the bomb is ${bomb.length} bytes`);
    for (let i = 0; i < 3; i++) {
      const reply = await exchange(s, { headers: headers('gzip'), chunks: [frame(bomb, { flag: 1 })] });
      expectStatus(
        t,
        reply,
        grpc.status.RESOURCE_EXHAUSTED,
        new RegExp(`^Received message that decompresses to a size larger than ${maxReceive}$`),
      );
    }
  });
});

test.serial('truncated frames: the header or the body cut, then the stream ends', async (t) => {
  const whole = frame(validRequest());
  await withSession(async (s) => {
    // Nothing at all: the request's HEADERS frame carries END_STREAM.
    const empty = await exchange(s, { chunks: [] });
    expectStatus(
      t,
      empty,
      grpc.status.UNIMPLEMENTED,
      /^Received no request message for server streaming method \/quiver\.v1\.PredictionService\/Predict$/,
    );
    // Every cut of the header (0 to 4 bytes) and several of the body.
    for (const cut of [1, 2, 3, 4, 5, 6, 20, whole.length - 1]) {
      const reply = await exchange(s, { chunks: [whole.subarray(0, cut)] });
      expectStatus(t, reply, grpc.status.UNIMPLEMENTED, /^Received no request message/, `cut at ${cut}`);
    }
    // The same cuts sent one byte per DATA frame.
    const bytewise = await exchange(s, { chunks: [...whole.subarray(0, 4)].map((b) => Buffer.of(b)) });
    expectStatus(t, bytewise, grpc.status.UNIMPLEMENTED, /^Received no request message/, 'cut header, byte by byte');
    // A cut frame, then the stream reset instead of ended: no answer is owed, nothing lingers.
    for (const cut of [3, 40]) {
      await new Promise<void>((resolve) => {
        const req = s.request({ ':method': 'POST', ':path': PREDICT, 'content-type': 'application/grpc', te: 'trailers' });
        req.on('error', () => undefined);
        req.write(whole.subarray(0, cut), () => req.close(http2.constants.NGHTTP2_CANCEL));
        req.on('close', () => resolve());
      });
    }
    // The connection is still good for a whole request.
    expectPrediction(t, await exchange(s, { chunks: [whole] }), 'after the cuts');
  });
});

/** What Quiver's decoder makes of bytes: the error message, or undefined when they decode. */
function decodeError(bytes: Uint8Array): { message: string; overLimit: boolean } | undefined {
  try {
    decodePredictRequest(bytes, { maxInstances: srv.server.options.maxRequestRows, maxMapEntries: 65536 });
    return undefined;
  } catch (err) {
    return { message: (err as Error).message, overLimit: err instanceof LimitExceeded };
  }
}

/** Where an INVALID_ARGUMENT about a decodable request may start (as in fuzz-validation). */
const FIELD = /^(model_name|features|inputs|id|request|give either)\b/;
const MISSING = /^model '[\s\S]*' (is not served|has no version '[\s\S]*')/;

test.serial('random bytes as a PredictRequest: undecodable is INVALID_ARGUMENT, never INTERNAL', async (t) => {
  const valid = validRequest();
  const counts = new Map<string, number>();
  await withSession(async (s) => {
    await property(
      fc.asyncProperty(
        fc.oneof(
          // Any bytes at all.
          fc.uint8Array({ maxLength: 300 }),
          // A valid request with some bytes overwritten, or cut, or with bytes spliced in.
          fc
            .tuple(fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }))
            .map(([edits]) => {
              const b = Uint8Array.from(valid);
              for (const [i, v] of edits) b[i] = v;
              return b;
            }),
          fc.nat({ max: valid.length - 1 }).map((n) => valid.subarray(0, n)),
          fc
            .tuple(fc.nat({ max: valid.length }), fc.uint8Array({ minLength: 1, maxLength: 20 }))
            .map(([at, junk]) => Uint8Array.from([...valid.subarray(0, at), ...junk, ...valid.subarray(at)])),
        ),
        async (bytes) => {
          const reply = await exchange(s, { chunks: [frame(bytes)] });
          const name = grpc.status[reply.status ?? -1] ?? String(reply.status);
          counts.set(name, (counts.get(name) ?? 0) + 1);
          const expected = decodeError(bytes);
          const fail = (why: string): never => {
            throw new Error(`${why}: ${name} ${JSON.stringify(reply.message)} for ${Buffer.from(bytes).toString('hex')}`);
          };
          if (reply.http !== 200) fail(`HTTP ${reply.http}`);
          if (expected !== undefined) {
            // Undecodable: Quiver's own INVALID_ARGUMENT, with the decoder's reason.
            const want = expected.overLimit ? expected.message : `the request message could not be decoded: ${expected.message}`;
            if (reply.status !== grpc.status.INVALID_ARGUMENT || reply.message !== want)
              fail(`expected INVALID_ARGUMENT ${JSON.stringify(want)}`);
            return;
          }
          // Decodable: served, or refused naming the field or the model at fault.
          if (reply.status === grpc.status.OK) {
            if (!Number.isFinite(prediction(reply).prediction)) fail('OK without a prediction');
          } else if (reply.status === grpc.status.INVALID_ARGUMENT) {
            if (!FIELD.test(reply.message)) fail('INVALID_ARGUMENT naming no field');
          } else if (reply.status === grpc.status.NOT_FOUND) {
            if (!MISSING.test(reply.message)) fail('NOT_FOUND naming no model');
          } else {
            fail('unexpected status');
          }
        },
      ),
      300,
    );
  });
  t.log(Object.fromEntries(counts));
  t.true((counts.get('INVALID_ARGUMENT') ?? 0) > 0);
  t.is(
    [...counts.values()].reduce((a, b) => a + b, 0),
    300,
  );
});

test.serial('wrong content-type is HTTP 415; unknown methods are UNIMPLEMENTED; a bad grpc-timeout is INVALID_ARGUMENT', async (t) => {
  const whole = frame(validRequest());
  await withSession(async (s) => {
    for (const contentType of ['text/plain', 'application/json', 'application/x-protobuf', undefined]) {
      const reply = await exchange(s, {
        headers: contentType === undefined ? { te: 'trailers' } : { 'content-type': contentType, te: 'trailers' },
        chunks: [whole],
      });
      t.is(reply.http, 415, String(contentType));
      t.is(reply.status, undefined, String(contentType));
      t.is(reply.body.length, 0);
    }
    // Any application/grpc subtype is let through to the method.
    expectPrediction(t, await exchange(s, { headers: { 'content-type': 'application/grpc+proto' }, chunks: [whole] }), '+proto');

    for (const path of [
      '/quiver.v1.PredictionService/Nope',
      '/quiver.v1.Nope/Predict',
      '/quiver.v1.PredictionService/predict',
      '/quiver.v1.PredictionService/Predict/',
      '/',
      '/%00%ff',
      `/${'x'.repeat(2000)}`,
    ]) {
      const reply = await exchange(s, { path, chunks: [whole] });
      expectStatus(t, reply, grpc.status.UNIMPLEMENTED, /^The server does not implement the method \//, path.slice(0, 60));
    }

    for (const timeout of ['soon', '', 'S', '123456789']) {
      const reply = await exchange(s, {
        headers: { 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': timeout },
        chunks: [whole],
      });
      expectStatus(
        t,
        reply,
        grpc.status.INVALID_ARGUMENT,
        /^grpc-timeout: .* is not a timeout; expected 1 to 8 digits and a unit/,
        `grpc-timeout '${timeout}'`,
      );
    }
  });
});

/** Opens a stream, sends some of a request, and resets it; resolves once the stream is closed. */
function resetStream(session: http2.ClientHttp2Session, chunks: readonly Buffer[], when: 'now' | 'after-write' | number): Promise<void> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': PREDICT, 'content-type': 'application/grpc', te: 'trailers' });
    req.on('error', () => undefined);
    req.on('close', () => resolve());
    // Whatever the server manages to answer before the reset is dropped.
    req.on('response', () => undefined);
    req.resume();
    const rst = (): void => void req.close(http2.constants.NGHTTP2_CANCEL);
    if (when === 'now') return rst();
    for (const c of chunks) req.write(c);
    if (when === 'after-write') return rst();
    req.end();
    if (when === 0) rst();
    else setTimeout(rst, when);
  });
}

test.serial('bursts of hundreds of streams reset at once, mid-request and mid-call: the server keeps serving', async (t) => {
  const whole = frame(validRequest());
  const half = whole.subarray(0, Math.floor(whole.length / 2));
  const bursts: Array<{ name: string; chunks: Buffer[]; when: 'now' | 'after-write' | number }> = [
    { name: 'reset right after HEADERS', chunks: [], when: 'now' },
    { name: 'reset mid frame header', chunks: [whole.subarray(0, 3)], when: 'after-write' },
    { name: 'reset mid body', chunks: [half], when: 'after-write' },
    { name: 'reset after the whole request', chunks: [whole], when: 0 },
    { name: 'reset while the call runs', chunks: [whole], when: 1 },
    { name: 'reset after a 1 MiB promise and 64 KiB', chunks: [frame(Buffer.alloc(64 * 1024, 7), { length: MiB })], when: 'after-write' },
  ];
  const perBurst = 150;
  let good = 0;
  for (const burst of bursts) {
    await withSession(async (s) => {
      const resets: Array<Promise<void>> = [];
      const served: Array<Promise<Reply>> = [];
      for (let i = 0; i < perBurst; i++) {
        resets.push(resetStream(s, burst.chunks, burst.when));
        // Whole requests among the resets, on the same connection, are served.
        if (i % 30 === 0) served.push(exchange(s, { chunks: [whole] }));
      }
      await Promise.all(resets);
      for (const reply of await Promise.all(served)) {
        expectPrediction(t, reply, burst.name);
        good++;
      }
    });
  }
  t.is(good, bursts.length * 5);
  // Every call the resets started has finished; nothing is queued for the model.
  await eventually(() => inflight() === 0, 'no call in flight');
  t.is(inflight(), 0);
  t.is(srv.server.core.models.resolve('production-model', '').batcher.queuedRows, 0);
  const ok = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  t.is(ok.prediction, 1);
});

test.serial('a rapid-reset flood (2000 resets on one connection) gets that connection retired; the server serves on', async (t) => {
  const whole = frame(validRequest());
  const session = await connect();
  const cut = new Promise<number>((resolve) => {
    session.on('goaway', (code) => resolve(code));
    session.on('close', () => resolve(-1));
  });
  session.on('error', () => undefined);
  const resets: Array<Promise<void>> = [];
  for (let i = 0; i < 2000; i++) resets.push(resetStream(session, [whole], i % 2 === 0 ? 'now' : 0));
  await Promise.all(resets);
  // Before nghttp2's CVE-2023-44487 mitigation (a burst of 1000 resets, then 33 a second) would
  // end the connection with GOAWAY INTERNAL_ERROR, src/grpc/reset-guard.ts retires it with
  // GOAWAY NO_ERROR: no new stream is taken on it, the ones it has finish. (Closing our side
  // gracefully would wait on the flood's streams: destroy it instead.)
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([cut, new Promise<string>((r) => (timer = setTimeout(() => r(`no GOAWAY in ${WAIT_MS} ms`), WAIT_MS)))]);
  clearTimeout(timer);
  session.destroy();
  t.is(code, http2.constants.NGHTTP2_NO_ERROR);
  // Every call the flood started has finished; other connections are served.
  await eventually(() => inflight() === 0, 'no call in flight');
  t.is(srv.server.core.models.resolve('production-model', '').batcher.queuedRows, 0);
  const ok = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
  t.is(ok.prediction, 1);
  await withSession(async (s) => expectPrediction(t, await exchange(s, { chunks: [whole] }), 'a new connection'));
});

test.serial('after the whole barrage: SERVING, a normal Predict works, memory is bounded', async (t) => {
  const health = healthClient(srv.address);
  try {
    t.is(await check(health, ''), 'SERVING');
    t.is(await check(health, 'quiver.v1.PredictionService'), 'SERVING');
  } finally {
    health.close();
  }
  const res = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW), id: 'after' });
  t.is(res.prediction, 1);
  t.is(res.id, 'after');
  t.is(inflight(), 0);

  const after = memory();
  const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
  t.log(
    `gc ${gc === undefined ? 'unavailable' : 'forced'}; heapUsed ${mib(baseline.heapUsed)} -> ${mib(after.heapUsed)}, ` +
      `rss ${mib(baseline.rss)} -> ${mib(after.rss)}, external ${mib(baseline.external)} -> ${mib(after.external)}`,
  );
  // Generous bounds: the barrage declared bodies of up to 4 GiB, had the server inflate three
  // 17 MiB zip bombs (cut at 16 MiB), left 150 bodies of 64 KiB half-sent and reset some 3000
  // streams; none of it may stay behind. (After a forced GC the heap grows by about 2 MiB.)
  t.true(after.heapUsed - baseline.heapUsed < (gc === undefined ? 96 : 32) * MiB, `heap grew ${mib(after.heapUsed - baseline.heapUsed)}`);
  t.true(after.rss - baseline.rss < 256 * MiB, `rss grew ${mib(after.rss - baseline.rss)}`);
});
