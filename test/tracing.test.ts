/**
 * The tracing SDK as the server starts it (src/tracing/tracing.ts): the trace SDK with the
 * OTLP/HTTP exporters instead of @opentelemetry/sdk-node, configured by the same OTEL_*
 * variables: spans reach a collector over http/protobuf (the default) or http/json with the
 * service name and resource attributes, the sampler comes from the environment, the W3C
 * trace context is extracted, and an OTLP protocol it cannot speak is refused.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

import { propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import test from 'ava';

import { DEFAULT_SAMPLE_RATIO, startTracing } from '../src/tracing/tracing.js';

interface Received {
  readonly path: string;
  readonly contentType: string;
  readonly body: Buffer;
}

/** A stand-in OTLP/HTTP collector that records what it is sent. */
async function collector(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': String(req.headers['content-type']) }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** Runs fn with these OTEL_* variables set, then restores the environment. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

for (const [protocol, contentType] of [
  ['http/protobuf', 'application/x-protobuf'],
  ['http/json', 'application/json'],
] as const) {
  test.serial(`OTLP over ${protocol}: spans reach the collector with the service name and resource attributes`, async (t) => {
    const c = await collector();
    try {
      await withEnv(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: c.url,
          OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
          OTEL_SERVICE_NAME: 'quiver-under-test',
          OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=quiver-0',
          OTEL_TRACES_SAMPLER: 'parentbased_always_on',
        },
        async () => {
          const tracing = startTracing();
          // The caller's W3C trace context continues in the server span.
          const parent = propagation.extract(ROOT_CONTEXT, { traceparent: TRACEPARENT });
          const span = tracing.tracer.startSpan('quiver.v1.PredictionService/Predict', {}, parent);
          t.is(span.spanContext().traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
          t.true(span.isRecording());
          span.end();
          await tracing.shutdown(); // flushes the batch
        },
      );
      t.is(c.received.length, 1);
      const [req] = c.received;
      t.is(req!.path, '/v1/traces');
      t.is(req!.contentType, contentType);
      const text = req!.body.toString('latin1');
      for (const s of ['quiver-under-test', 'k8s.pod.name', 'quiver-0', 'quiver.v1.PredictionService/Predict']) t.true(text.includes(s), s);
    } finally {
      await c.close();
    }
  });
}

test.serial('the sampler comes from OTEL_TRACES_SAMPLER, and a start after a shutdown registers anew', async (t) => {
  await withEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_TRACES_SAMPLER: 'always_off' }, async () => {
    const off = startTracing();
    t.false(off.tracer.startSpan('x').isRecording());
    await off.shutdown();
  });
  await withEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_TRACES_SAMPLER: 'always_on' }, async () => {
    const on = startTracing();
    t.true(on.tracer.startSpan('x').isRecording());
    // Registered globally as well, for libraries that trace through the API.
    t.true(trace.getTracer('other').startSpan('y').isRecording());
    await on.shutdown();
  });
});

test.serial(
  "with no OTEL_TRACES_SAMPLER: a caller's sampled context is followed, an unsampled one is not, and 1% of new traces start",
  async (t) => {
    const saved = process.env.OTEL_TRACES_SAMPLER;
    delete process.env.OTEL_TRACES_SAMPLER;
    try {
      await withEnv({ OTEL_TRACES_EXPORTER: 'none' }, async () => {
        const tracing = startTracing();
        try {
          const child = (flags: string): boolean =>
            tracing.tracer
              .startSpan('x', {}, propagation.extract(ROOT_CONTEXT, { traceparent: TRACEPARENT.slice(0, -2) + flags }))
              .isRecording();
          t.true(child('01'));
          t.false(child('00'));
          // Roots: a binomial count around 1% of N; the bounds are many standard deviations wide.
          const n = 20000;
          let recorded = 0;
          for (let i = 0; i < n; i++) if (tracing.tracer.startSpan('root').isRecording()) recorded++;
          t.is(DEFAULT_SAMPLE_RATIO, 0.01);
          t.true(
            recorded > n * DEFAULT_SAMPLE_RATIO * 0.5 && recorded < n * DEFAULT_SAMPLE_RATIO * 1.5,
            `${recorded} of ${n} roots sampled`,
          );
        } finally {
          await tracing.shutdown();
        }
      });
    } finally {
      if (saved !== undefined) process.env.OTEL_TRACES_SAMPLER = saved;
    }
  },
);

test.serial('an OTLP protocol other than HTTP is refused with a message saying what works', async (t) => {
  await withEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, async () => {
    t.throws(() => startTracing(), { message: /OTLP protocol grpc is not supported: .*http\/protobuf or http\/json/ });
  });
});
