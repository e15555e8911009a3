/**
 * A gRPC load generator process for benchmarks/overload.ts, over plain node:http2 (much
 * cheaper per call than a grpc-js client, which we measured as the bottleneck at
 * ~9.5k req/s) with a pre-built request frame. Unlike h2load it reads every call's
 * grpc-status, so each answer is classified (OK, RESOURCE_EXHAUSTED, ...) and timed.
 *
 * Two modes:
 *   closed  `concurrency` calls outstanding, each answer sends the next (capacity).
 *   open    a fixed arrival rate: call i is due at t0 + i/rate and is sent then whatever
 *           happened to earlier calls (no coordinated omission: a slow server does not slow
 *           the arrivals). Each call carries `grpc-timeout` and is cancelled by the client
 *           when its deadline passes, as a gRPC client does (DEADLINE_EXCEEDED).
 *
 * Latency is from the moment the call was sent; `lag` (sent - due) says whether this
 * process kept up with its schedule. Latencies go into log-bucket histograms (2% wide),
 * which the parent merges across processes.
 *
 * IPC: the parent sends one RunSpec; this process answers with a GeneratorResult and exits.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants } from 'node:http2';

export interface RunSpec {
  readonly mode: 'open' | 'closed';
  readonly address: string;
  readonly path: string;
  /** The request frame (5-byte prefix + message), base64. */
  readonly body: string;
  /** Open loop: calls per second from this process. */
  readonly rate: number;
  /** Closed loop: calls outstanding in this process. */
  readonly concurrency: number;
  readonly connections: number;
  /** Calls due in [0, warmupMs) are sent but not counted; the measured window follows. */
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly deadlineMs: number;
  /** Date.now() at which the schedule starts (all processes share it). */
  readonly startAt: number;
}

/** Log-bucket histogram: bucket b holds values in [MIN * R^b, MIN * R^(b+1)) ms. */
export const HIST_MIN_MS = 0.01;
export const HIST_RATIO = 1.02;
const HIST_BUCKETS = 1000; // up to 0.01 ms * 1.02^1000 = 4e6 ms

export interface Histogram {
  readonly counts: number[];
  count: number;
  maxMs: number;
}

export function newHistogram(): Histogram {
  return { counts: new Array<number>(HIST_BUCKETS).fill(0), count: 0, maxMs: 0 };
}

export function record(h: Histogram, ms: number): void {
  const b = ms <= HIST_MIN_MS ? 0 : Math.min(HIST_BUCKETS - 1, Math.floor(Math.log(ms / HIST_MIN_MS) / Math.log(HIST_RATIO)));
  h.counts[b] = (h.counts[b] as number) + 1;
  h.count++;
  if (ms > h.maxMs) h.maxMs = ms;
}

export function merge(into: Histogram, h: Histogram): void {
  for (let i = 0; i < HIST_BUCKETS; i++) into.counts[i] = (into.counts[i] as number) + (h.counts[i] as number);
  into.count += h.count;
  into.maxMs = Math.max(into.maxMs, h.maxMs);
}

/** The q-quantile in ms (the bucket's geometric middle; within ~1%), null when empty. */
export function quantile(h: Histogram, q: number): number | null {
  if (h.count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (let i = 0; i < HIST_BUCKETS; i++) {
    seen += h.counts[i] as number;
    if (seen >= rank) return Math.min(h.maxMs, HIST_MIN_MS * HIST_RATIO ** (i + 0.5));
  }
  return h.maxMs;
}

export interface GeneratorResult {
  /** Calls due in the measured window (open loop) / sent in it (closed loop). */
  readonly due: number;
  readonly sent: number;
  /** Calls actually sent during the measured window (whatever their due time): the rate really offered. */
  readonly sentInWindow: number;
  /** Final status of the measured calls, by name (OK, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ...). */
  readonly byStatus: Record<string, number>;
  /** DEADLINE_EXCEEDED split: cancelled here at the deadline vs answered so by the server. */
  readonly deadlineClient: number;
  readonly deadlineServer: number;
  /** Latency histograms of the measured calls, by status. */
  readonly latency: Record<string, Histogram>;
  /** sent - due, ms (open loop). */
  readonly lag: Histogram;
  /** Per second of the measured window (by due time): calls due, and outcomes. */
  readonly timeline: ReadonlyArray<Record<string, number>>;
  /** The most calls outstanding at once during the measured window. */
  readonly maxInFlight: number;
  /** Connections the server closed, replaced by new ones. */
  readonly reconnects: number;
  /** CPU this process used during the run, ms (user + system). */
  readonly cpuMs: number;
  readonly wallMs: number;
  /** The first few odd errors, for the report. */
  readonly errors: string[];
}

const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

interface Call {
  readonly due: number;
  readonly sent: number;
  readonly measured: boolean;
  readonly second: number;
  stream: ClientHttp2Stream | undefined;
  done: boolean;
}

async function run(spec: RunSpec): Promise<GeneratorResult> {
  const body = Buffer.from(spec.body, 'base64');
  const sessions: ClientHttp2Session[] = [];
  const errors: string[] = [];
  const note = (e: string): void => {
    if (errors.length < 10 && !errors.includes(e)) errors.push(e);
  };
  // A gRPC client replaces a connection the server closed: so does this one (counted).
  let reconnects = 0;
  let tStart = performance.now();
  const open = async (i: number): Promise<void> => {
    const s = connect(`http://${spec.address}`);
    s.on('error', (err: Error) => note(`session: ${err.message} at ${Math.round(performance.now() - tStart)} ms`));
    s.on('goaway', (code: number) => note(`GOAWAY code ${code} at ${Math.round(performance.now() - tStart)} ms`));
    s.on('close', () => {
      if (closing || sessions[i] !== s) return;
      reconnects++;
      void open(i);
    });
    sessions[i] = s;
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
  };
  let closing = false;
  for (let i = 0; i < spec.connections; i++) await open(i);
  const byStatus: Record<string, number> = {};
  const latency: Record<string, Histogram> = {};
  const lag = newHistogram();
  const seconds = Math.ceil(spec.durationMs / 1000);
  const timeline: Array<Record<string, number>> = Array.from({ length: seconds }, () => ({ due: 0 }));
  let deadlineClient = 0;
  let deadlineServer = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let sent = 0;
  let sentInWindow = 0;
  let due = 0;
  let next = 0; // round-robin over sessions
  const pending: Call[] = []; // in send order = deadline order
  let head = 0;

  const t0 = performance.now() + (spec.startAt - Date.now());
  tStart = t0;
  const measureFrom = t0 + spec.warmupMs;
  const end = measureFrom + spec.durationMs;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();

  const finish = (call: Call, status: string, now: number): void => {
    if (call.done) return;
    call.done = true;
    call.stream = undefined;
    inFlight--;
    onDone?.();
    if (!call.measured) return;
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    record((latency[status] ??= newHistogram()), now - call.sent);
    const slot = timeline[call.second];
    if (slot !== undefined) slot[status] = (slot[status] ?? 0) + 1;
  };
  let onDone: (() => void) | undefined;

  const send = (dueAt: number, now: number): Call => {
    const measured = dueAt >= measureFrom && dueAt < end;
    const call: Call = {
      due: dueAt,
      sent: now,
      measured,
      second: Math.floor((dueAt - measureFrom) / 1000),
      stream: undefined,
      done: false,
    };
    if (measured) {
      sent++;
      record(lag, now - dueAt);
    }
    inFlight++;
    if (now >= measureFrom && now < end) {
      sentInWindow++;
      if (inFlight > maxInFlight) maxInFlight = inFlight;
    }
    let session = sessions[next++ % sessions.length] as ClientHttp2Session;
    if (session.destroyed || session.closed) {
      // Replaced on 'close'; until then, any live one.
      session = sessions.find((x) => !x.destroyed && !x.closed) ?? session;
    }
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(
        {
          ':method': 'POST',
          ':path': spec.path,
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': `${spec.deadlineMs}m`,
        },
        { endStream: false },
      );
    } catch (err) {
      note(`request: ${(err as Error).message}`);
      finish(call, 'CLIENT_ERROR', performance.now());
      return call;
    }
    call.stream = stream;
    let status: number | undefined;
    let bytes = 0;
    stream.on('response', (headers) => {
      const s = headers['grpc-status'];
      if (s !== undefined) status = Number(s);
    });
    stream.on('trailers', (trailers) => {
      const s = trailers['grpc-status'];
      if (s !== undefined) status = Number(s);
    });
    stream.on('data', (chunk: Buffer) => (bytes += chunk.length));
    stream.on('error', (err: Error) => note(`stream: ${err.message}`));
    stream.on('close', () => {
      if (call.done) return;
      const now2 = performance.now();
      if (status === undefined) {
        note(`stream closed without grpc-status (rst code ${stream.rstCode}) at ${Math.round(now2 - tStart)} ms`);
        finish(call, `RST_${stream.rstCode ?? '?'}`, now2);
      } else if (status === 0 && bytes === 0) {
        note('OK without a message');
        finish(call, 'OK_EMPTY', now2);
      } else {
        if (status === 4) deadlineServer += call.measured ? 1 : 0;
        finish(call, STATUS_NAMES[status] ?? `CODE_${status}`, now2);
      }
    });
    stream.end(body);
    if (spec.mode === 'open') pending.push(call);
    return call;
  };

  // Client-side deadlines: calls expire in send order, so a sweep from the head suffices.
  const sweep = setInterval(() => {
    const now = performance.now();
    while (head < pending.length) {
      const c = pending[head] as Call;
      if (!c.done) {
        if (c.sent + spec.deadlineMs > now) break;
        const stream = c.stream;
        if (c.measured) deadlineClient++;
        finish(c, 'DEADLINE_EXCEEDED', now);
        stream?.close(constants.NGHTTP2_CANCEL);
      }
      head++;
    }
    if (head > 10_000) {
      pending.splice(0, head);
      head = 0;
    }
  }, 5);

  await new Promise<void>((r) => setTimeout(r, Math.max(0, t0 - performance.now())));

  if (spec.mode === 'open') {
    const period = 1000 / spec.rate;
    let i = 0;
    const total = Math.floor(((end - t0) * spec.rate) / 1000);
    for (let k = 0; k < total; k++) {
      const d = t0 + k * period;
      if (d >= measureFrom && d < end) {
        due++;
        const slot = timeline[Math.floor((d - measureFrom) / 1000)];
        if (slot !== undefined) slot.due = (slot.due ?? 0) + 1;
      }
    }
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        const now = performance.now();
        while (i < total && t0 + i * period <= now) {
          send(t0 + i * period, now);
          i++;
        }
        if (i < total) setTimeout(pump, 1);
        else resolve();
      };
      pump();
    });
  } else {
    // Closed loop: each answer sends the next until the end.
    await new Promise<void>((resolve) => {
      let outstanding = 0;
      const launch = (): void => {
        const now = performance.now();
        if (now >= end) {
          if (outstanding === 0) resolve();
          return;
        }
        outstanding++;
        const call = send(now, now);
        if (call.measured) due++;
        const s = call.stream;
        if (s === undefined) {
          outstanding--;
          setImmediate(launch);
          return;
        }
        s.once('close', () => {
          outstanding--;
          launch();
        });
      };
      for (let c = 0; c < spec.concurrency; c++) launch();
    });
  }

  // Every call ends: answered, or cancelled at its deadline by the sweep.
  await new Promise<void>((resolve) => {
    if (inFlight === 0) resolve();
    else onDone = () => inFlight === 0 && resolve();
    setTimeout(resolve, spec.deadlineMs + 5000);
  });
  clearInterval(sweep);
  const cpu = process.cpuUsage(cpu0);
  closing = true;
  for (const s of sessions) s.close();
  if (inFlight > 0) note(`${inFlight} calls never ended`);
  return {
    due,
    sent,
    sentInWindow,
    byStatus,
    deadlineClient,
    deadlineServer,
    latency,
    lag,
    timeline,
    maxInFlight,
    reconnects,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: performance.now() - wall0,
    errors,
  };
}

if (process.send !== undefined) {
  process.once('message', (spec: RunSpec) => {
    run(spec).then(
      (result) => process.send?.({ type: 'result', result }, () => process.exit(0)),
      (err: Error) => process.send?.({ type: 'error', message: err.stack ?? err.message }, () => process.exit(1)),
    );
  });
  process.send({ type: 'ready' });
}
