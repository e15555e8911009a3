/**
 * (g) Monitoring cost: Quiver Predict at c=64 with metrics on (the default), metrics off,
 * and tracing on (OTLP to a local sink), sampled as by default (1%) and every call. The runs alternate, three each, so drift in the
 * machine's speed is shared; each variant's row is the mean of its runs.
 */
import { createServer as createHttpServer, type Server } from 'node:http';

import type { LoadResult } from '../lib/h2load.js';
import { loadPredict, meanRow } from './alternating.js';
import type { Row } from './measure.js';
import { startQuiverFromDist, stopProcess } from './servers.js';
import type { Bench } from './targets.js';

interface Variant {
  readonly target: string;
  readonly extra: string[];
  readonly env: Record<string, string>;
}

const ROUNDS = 3;
const CONCURRENCY = 64;

/** An OTLP/HTTP endpoint that accepts every export and keeps nothing. */
async function startTraceSink(): Promise<{ sink: Server; url: string }> {
  const sink = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  return { sink, url: `http://127.0.0.1:${(sink.address() as { port: number }).port}` };
}

function variants(sinkUrl: string): Variant[] {
  return [
    { target: '(g) Quiver Predict, metrics on, tracing off (default)', extra: [], env: {} },
    { target: '(g) Quiver Predict, metrics off', extra: ['--no-metrics'], env: {} },
    {
      // h2load's calls carry no trace context: 1% of them start a trace (the default sampler).
      target: '(g) Quiver Predict, metrics on, tracing on (OTLP, 1% sampled, the default)',
      extra: [],
      env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl },
    },
    {
      target: '(g) Quiver Predict, metrics on, tracing on (OTLP, every call sampled)',
      extra: [],
      env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl, OTEL_TRACES_SAMPLER: 'parentbased_always_on' },
    },
  ];
}

/** One server started with the variant's options, one h2load run against it, stopped. */
async function runVariant(bench: Bench, v: Variant, round: number): Promise<LoadResult> {
  const q = await startQuiverFromDist(bench.modelPath, v.extra, v.env);
  const r = await loadPredict(bench.work, q.port, CONCURRENCY, v.target);
  process.stderr.write(`  ${v.target} round ${round + 1}: ${Math.round(r.requestsPerSecond)} req/s\n`);
  await stopProcess(q.child);
  return r;
}

export async function monitoringCostRows(bench: Bench): Promise<Row[]> {
  process.stderr.write('(g) monitoring cost\n');
  const { sink, url } = await startTraceSink();
  const all = variants(url);
  const runs = new Map<string, LoadResult[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const v of all) {
      const r = await runVariant(bench, v, round);
      runs.set(v.target, [...(runs.get(v.target) ?? []), r]);
    }
  }
  sink.close();
  return all.map((v) => meanRow(v.target, CONCURRENCY, runs.get(v.target) ?? []));
}
