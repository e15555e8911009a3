import * as grpc from '@grpc/grpc-js';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import test from 'ava';

import { GetStatsResponse } from '../src/gen/quiver/v1/prediction.js';
import { Stage, type TrainingProfile } from '../src/gen/quiver/v1/registry.js';
import { BATCH_SIZE_HISTOGRAM_BOUNDS, LATENCY_HISTOGRAM_BOUNDS_MS, VersionStats } from '../src/metrics/version-stats.js';
import { registerTraining } from '../src/registry/register-training.js';
import { Registry as LocalRegistry } from '../src/registry/registry.js';
import { generateDataset } from '../training/data/generate.js';
import { Random } from '../training/random.js';
import { trainModel } from '../training/train.js';
import { DataType, Tensor } from '../src/gen/quiver/v1/tensor.js';
import { BLUEPRINT_ROW, BLUEPRINT_ROW_2, blueprintFeatures, demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { grpcError, type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const demoPath = writeModel(tmp(), 'demo.onnx', demoModel());

/** `name{labels} value` lines of a Prometheus text exposition, as a lookup. */
function series(text: string): (name: string, labels?: Record<string, string>) => number | undefined {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  return (name, labels = {}) => {
    for (const line of lines) {
      const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (.+)$/.exec(line);
      if (m === null || m[1] !== name) continue;
      const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
    }
    return undefined;
  };
}

test('metrics move with traffic, per status, on /metrics and on the metrics port; labels stay bounded', async (t) => {
  const srv = await startServer({ models: [`production-model=${demoPath}`] });
  try {
    for (let i = 0; i < 7; i++) await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
    for (let i = 0; i < 3; i++) await grpcError(srv.client.predict({ features: new Map([['feature_0', 1]]) }));
    await grpcError(srv.client.predict({ modelName: 'attacker-chosen-name-123', features: blueprintFeatures(BLUEPRINT_ROW) }));
    for (const url of [`${srv.http}/metrics`, `${srv.metrics}/metrics`]) {
      const res = await fetch(url);
      t.is(res.status, 200);
      const text = await res.text();
      const get = series(text);
      const mv = { model: 'production-model', version: '1' };
      t.is(get('ml_predictions_total', { ...mv, status: 'ok', code: 'OK' }), 7);
      t.is(get('ml_predictions_total', { ...mv, status: 'error', code: 'INVALID_ARGUMENT' }), 3);
      t.is(get('ml_prediction_latency_seconds_count', mv), 10);
      t.true((get('ml_prediction_latency_seconds_bucket', { ...mv, le: '10' }) ?? 0) >= 10);
      t.truthy(get('ml_prediction_latency_seconds_bucket', { ...mv, le: '0.00005' }) !== undefined);
      t.true((get('quiver_batch_size_rows_count', mv) ?? 0) >= 1);
      t.true(
        (get('quiver_inference_seconds_count', { ...mv, lane: 'inline' }) ?? 0) +
          (get('quiver_inference_seconds_count', { ...mv, lane: 'worker' }) ?? 0) >=
          7,
      );
      t.is(get('quiver_model_loads_total', { model: 'production-model', result: 'ok' }), 1);
      t.not(get('quiver_pool_utilization'), undefined);
      t.not(get('quiver_queue_depth_rows', mv), undefined);
      t.not(get('process_cpu_user_seconds_total'), undefined);
      t.false(text.includes('attacker-chosen-name-123'), 'a request cannot create a series with a name of its choosing');
    }
    const notMetrics = await fetch(`${srv.metrics}/other`);
    t.is(notMetrics.status, 404);
  } finally {
    await srv.close();
  }
});

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** GetStats over gRPC. */
function getStats(srv: Running): Promise<GetStatsResponse> {
  return new Promise((resolve, reject) => srv.client.raw.getStats({ modelName: '' }, (err, res) => (err ? reject(err) : resolve(res))));
}

interface StatsHistogram {
  upper_bounds: number[];
  counts: number[];
}

test('/stats and GetStats agree with the traffic sent', async (t) => {
  const srv = await startServer({ models: [`production-model=${demoPath}`] });
  try {
    for (let i = 0; i < 7; i++)
      await srv.client.predict({ features: blueprintFeatures(i < 5 ? BLUEPRINT_ROW : BLUEPRINT_ROW.map((v) => -v)) });
    for (let i = 0; i < 3; i++) await grpcError(srv.client.predict({ features: new Map([['feature_0', 1]]) }));
    // One call at a time, so no two share a run: 7 runs of 1 row above, then runs of 4 and 8.
    for (const rows of [4, 8]) {
      const data = Array.from({ length: rows }, (_, r) => (r % 2 === 0 ? BLUEPRINT_ROW : BLUEPRINT_ROW_2)).flat();
      await srv.client.batchPredict({
        dense: Tensor.fromPartial({ datatype: DataType.DATA_TYPE_FP32, shape: [rows, 10], fp32Data: data }),
      });
    }
    const res = await fetch(`${srv.http}/stats`);
    const stats = (await res.json()) as {
      uptime_seconds: number;
      versions: Array<{
        model_name: string;
        model_version: string;
        requests: number;
        errors: number;
        error_rate: number;
        errors_by_code: Record<string, number>;
        latency_ms: { p50: number; p95: number; p99: number; samples: number };
        predictions: { counts: Record<string, number>; n: number };
        drift: { evaluated?: boolean };
        batches: number;
        batch_rows: number;
        latency_histogram_ms: StatsHistogram;
        batch_size_histogram: StatsHistogram;
      }>;
    };
    t.true(stats.uptime_seconds >= 0);
    const v = stats.versions.find((x) => x.model_name === 'production-model')!;
    t.is(v.model_version, '1');
    t.is(v.requests, 22);
    t.is(v.errors, 3);
    t.is(v.error_rate, 3 / 22);
    t.deepEqual(v.errors_by_code, { INVALID_ARGUMENT: 3 });
    // The dense form answers with raw outputs: it adds no predicted values to the mix.
    t.deepEqual(v.predictions.counts, { '0': 2, '1': 5 });
    t.is(v.latency_ms.samples, 12);
    t.true(v.latency_ms.p50 > 0 && v.latency_ms.p50 <= v.latency_ms.p95 && v.latency_ms.p95 <= v.latency_ms.p99);
    t.falsy(v.drift.evaluated, 'a model without a training profile has no drift verdict');

    // The latency histogram covers the same calls as the percentiles, over the fixed bounds
    // (plus a bucket above 10 s only if a call took that long).
    const lat = v.latency_histogram_ms;
    t.is(lat.counts.length, lat.upper_bounds.length);
    t.deepEqual(lat.upper_bounds.slice(0, LATENCY_HISTOGRAM_BOUNDS_MS.length), [...LATENCY_HISTOGRAM_BOUNDS_MS]);
    t.true(lat.upper_bounds.every((b) => typeof b === 'number' && Number.isFinite(b)));
    t.is(sum(lat.counts), v.latency_ms.samples);
    // Rows per run: every run `batches` counts, each in the bucket of its exact size here.
    const size = v.batch_size_histogram;
    t.deepEqual(size.upper_bounds, [...BATCH_SIZE_HISTOGRAM_BOUNDS], 'no run above 4096 rows: no overflow bucket');
    t.is(v.batches, 9);
    t.is(v.batch_rows, 19);
    t.is(sum(size.counts), v.batches);
    t.is(sum(size.counts.map((c, i) => c * size.upper_bounds[i]!)), v.batch_rows);
    t.deepEqual(Object.fromEntries(size.counts.flatMap((c, i) => (c === 0 ? [] : [[String(size.upper_bounds[i]), c]]))), {
      '1': 7,
      '4': 1,
      '8': 1,
    });

    // The same figures in GetStats and in /v1/stats' proto3 JSON (lowerCamelCase).
    const grpcStats = (await getStats(srv)).versions.find((x) => x.modelName === 'production-model')!;
    t.deepEqual(grpcStats.batchSizeHistogram, { upperBounds: size.upper_bounds, counts: size.counts });
    t.is(sum(grpcStats.latencyHistogramMs!.counts), grpcStats.latencyMs!.samples);
    const v1 = (await (await fetch(`${srv.http}/v1/stats`)).json()) as {
      versions: Array<{
        batches: number;
        latencyMs: { samples: number };
        latencyHistogramMs: { upperBounds: number[]; counts: number[] };
        batchSizeHistogram: { upperBounds: number[]; counts: number[] };
      }>;
    };
    const v1v = v1.versions[0]!;
    t.deepEqual(v1v.batchSizeHistogram, { upperBounds: size.upper_bounds, counts: size.counts });
    t.is(sum(v1v.latencyHistogramMs.counts), v1v.latencyMs.samples);
    t.deepEqual(v1v.latencyHistogramMs.upperBounds.slice(0, LATENCY_HISTOGRAM_BOUNDS_MS.length), [...LATENCY_HISTOGRAM_BOUNDS_MS]);
  } finally {
    await srv.close();
  }
});

test('VersionStats histograms: bucket edges are inclusive, a bucket above the last bound appears only when used, bounded by the largest value', (t) => {
  const stats = new VersionStats();
  const none = stats.snapshot();
  t.deepEqual(none.latencyHistogramMs, { upperBounds: [...LATENCY_HISTOGRAM_BOUNDS_MS], counts: LATENCY_HISTOGRAM_BOUNDS_MS.map(() => 0) });
  t.deepEqual(none.batchSizeHistogram, { upperBounds: [...BATCH_SIZE_HISTOGRAM_BOUNDS], counts: BATCH_SIZE_HISTOGRAM_BOUNDS.map(() => 0) });

  // Rows: 1 and 2 on their bounds, 3 in (2, 4], 4096 on the last bound, 4097 above it.
  for (const [rows, inline] of [
    [1, true],
    [2, false],
    [3, false],
    [4096, false],
    [4097, false],
    [5000, false],
  ] as const)
    stats.batch(rows, inline);
  // Seconds: 0.05 ms on the first bound, 0.3 ms in (0.25, 0.5], 10 s on the last bound, 12 s above it.
  for (const seconds of [0.00005, 0.0003, 10, 12]) stats.request(0, seconds, 1);
  stats.request(0, null, 1);
  const s = stats.snapshot();
  t.is(s.batches, 6);
  t.is(s.batchRows, 1 + 2 + 3 + 4096 + 4097 + 5000);
  t.is(s.inlineRuns, 1);
  const size = s.batchSizeHistogram;
  t.deepEqual(size.upperBounds, [...BATCH_SIZE_HISTOGRAM_BOUNDS, 5000]);
  t.deepEqual(size.counts, [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
  t.is(sum(size.counts), s.batches);
  const lat = s.latencyHistogramMs;
  t.is(s.latencyMs.samples, 4);
  t.deepEqual(lat.upperBounds, [...LATENCY_HISTOGRAM_BOUNDS_MS, 12000]);
  t.deepEqual(lat.counts, [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  t.is(sum(lat.counts), s.latencyMs.samples);
});

/** A server with production-model trained on the blueprint data (so it has a training profile). */
async function trainedServer(): Promise<Running> {
  return (await trainedServerWithProfile()).srv;
}

/** trainedServer, with the training profile its version was registered with. */
async function trainedServerWithProfile(): Promise<{ srv: Running; profile: TrainingProfile }> {
  const dataDir = tmp('quiver-drift-');
  const registry = await LocalRegistry.open({ dataDir, maxUploadBytes: 1 << 24 });
  const result = await trainModel({ dataset: generateDataset({ rows: 1000, seed: 42 }), algorithm: 'logistic' });
  const v = await registerTraining(registry, 'production-model', result, {
    experimentName: 'drift',
    datasetName: 'blueprint',
    description: '',
    actor: 'test',
  });
  await registry.transitionStage('production-model', v.version, 'Production', true, undefined, 'test');
  await registry.close();
  return { srv: await startServer({ dataDir }), profile: v.lineage.profile! };
}

interface DriftStats {
  versions: Array<{
    drift: { evaluated: boolean; drifted: boolean; samples: number; features: Array<{ feature: string; psi: number; drifted: boolean }> };
    lineage: { metrics: Record<string, number> };
  }>;
}

async function driftOf(srv: Running): Promise<DriftStats['versions'][number]> {
  return ((await (await fetch(`${srv.http}/stats`)).json()) as DriftStats).versions[0]!;
}

test("the blueprint's Scenario 1 (features 0-4 set to 999) is flagged within 50 requests", async (t) => {
  const srv = await trainedServer();
  try {
    let flaggedAt = 0;
    for (let i = 1; i <= 50 && flaggedAt === 0; i++) {
      await srv.client.predict({ features: new Map(Array.from({ length: 10 }, (_, j) => [`feature_${j}`, j < 5 ? 999 : 0])) });
      if ((await driftOf(srv)).drift.drifted) flaggedAt = i;
    }
    t.true(flaggedAt > 0 && flaggedAt <= 50, `flagged at request ${flaggedAt}`);
    const drift = (await driftOf(srv)).drift;
    for (let j = 0; j < 5; j++) t.true(drift.features.find((f) => f.feature === `feature_${j}`)!.drifted, `feature_${j}`);
    const metrics = series(await (await fetch(`${srv.http}/metrics`)).text());
    t.is(metrics('ml_drift_detected', { model: 'production-model', version: '1' }), 1);
    t.true((metrics('ml_drift_score', { model: 'production-model', version: '1', feature: 'feature_0' }) ?? 0) > 0.25);
    t.true((metrics('ml_model_accuracy', { model: 'production-model', version: '1' }) ?? 0) > 0.9);
  } finally {
    await srv.close();
  }
});

test("/stats' drift features carry the training histogram and the window's counts over the same bins", async (t) => {
  const { srv, profile } = await trainedServerWithProfile();
  try {
    const rng = new Random(5);
    // 40 rows: feature_0 at 999 (above the training range) in 6, at -999 (below) in 4.
    for (let i = 0; i < 40; i++) {
      const row = Array.from({ length: 10 }, () => rng.normal(0, 1));
      if (i % 4 === 0 && i < 24) row[0] = 999;
      if (i % 4 === 2 && i < 16) row[0] = -999;
      await srv.client.predict({ features: new Map(row.map((x, j) => [`feature_${j}`, x])) });
    }
    const stats = (await (await fetch(`${srv.http}/stats`)).json()) as {
      versions: Array<{
        drift: {
          samples: number;
          features: Array<{ feature: string; edges: number[]; training_counts: number[]; live_counts: number[] }>;
        };
      }>;
    };
    const drift = stats.versions[0]!.drift;
    t.is(drift.samples, 40);
    t.is(drift.features.length, 10);
    for (const f of drift.features) {
      const trained = profile.features.find((p) => p.name === f.feature)!;
      t.deepEqual(f.edges, trained.histogramEdges, f.feature);
      t.deepEqual(f.training_counts, trained.histogramCounts, f.feature);
      t.is(f.live_counts.length, f.edges.length - 1, f.feature);
      // Out-of-range values count in the outer bins, so every window row is in some bin.
      t.is(sum(f.live_counts), drift.samples, f.feature);
    }
    const f0 = drift.features.find((f) => f.feature === 'feature_0')!;
    t.true(f0.live_counts[f0.live_counts.length - 1]! >= 6, 'the 999s in the last bin');
    t.true(f0.live_counts[0]! >= 4, 'the -999s in the first bin');
    // The same in GetStats and /v1/stats.
    const grpcF0 = (await getStats(srv)).versions[0]!.drift!.features.find((f) => f.feature === 'feature_0')!;
    t.deepEqual(
      { edges: grpcF0.edges, trainingCounts: grpcF0.trainingCounts, liveCounts: grpcF0.liveCounts },
      { edges: f0.edges, trainingCounts: f0.training_counts, liveCounts: f0.live_counts },
    );
    const v1 = (await (await fetch(`${srv.http}/v1/stats`)).json()) as {
      versions: Array<{ drift: { features: Array<{ feature: string; edges: number[]; trainingCounts: number[]; liveCounts: number[] }> } }>;
    };
    const v1f0 = v1.versions[0]!.drift.features.find((f) => f.feature === 'feature_0')!;
    t.deepEqual(
      { edges: v1f0.edges, trainingCounts: v1f0.trainingCounts, liveCounts: v1f0.liveCounts },
      { edges: f0.edges, trainingCounts: f0.training_counts, liveCounts: f0.live_counts },
    );
  } finally {
    await srv.close();
  }
});

test("the blueprint's Flow 2 (100 requests drawn from N(0, 1)) is not flagged", async (t) => {
  const srv = await trainedServer();
  try {
    const rng = new Random(2024);
    for (let i = 0; i < 100; i++) {
      await srv.client.predict({ features: new Map(Array.from({ length: 10 }, (_, j) => [`feature_${j}`, rng.normal(0, 1)])) });
    }
    const drift = (await driftOf(srv)).drift;
    t.true(drift.evaluated);
    t.is(drift.samples, 100);
    t.false(drift.drifted, JSON.stringify(drift.features.filter((f) => f.drifted)));
    const metrics = series(await (await fetch(`${srv.http}/metrics`)).text());
    t.is(metrics('ml_drift_detected', { model: 'production-model', version: '1' }), 0);
  } finally {
    await srv.close();
  }
});

test('spans: one per RPC continuing the caller trace context, with validation, queue and inference children', async (t) => {
  const exporter = new InMemorySpanExporter();
  const srv = await startServer({ models: [`production-model=${demoPath}`], inlineMaxUs: 0 }, { spanExporter: exporter });
  try {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentSpan = '00f067aa0ba902b7';
    const md = new grpc.Metadata();
    md.set('traceparent', `00-${traceId}-${parentSpan}-01`);
    await new Promise<void>((resolve, reject) =>
      srv.client.raw.predict(
        { modelName: 'production-model', modelVersion: '', features: blueprintFeatures(BLUEPRINT_ROW), inputs: new Map(), id: '' },
        md,
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    // A span is exported when it ends, which may come just after the client has its answer.
    const exported = (name: string): Promise<number> =>
      eventually(() => exporter.getFinishedSpans().some((s) => s.name === name), `span '${name}' exported`);
    await exported('quiver.v1.PredictionService/Predict');
    const spans = exporter.getFinishedSpans();
    const server = spans.find((s) => s.name === 'quiver.v1.PredictionService/Predict')!;
    t.truthy(server);
    t.is(server.spanContext().traceId, traceId);
    t.is(server.parentSpanContext?.spanId, parentSpan);
    const children = spans.filter((s) => s.parentSpanContext?.spanId === server.spanContext().spanId).map((s) => s.name);
    t.deepEqual(children.sort(), ['quiver.inference', 'quiver.queue', 'quiver.validate']);
    const inference = spans.find((s) => s.name === 'quiver.inference')!;
    t.is(inference.attributes['quiver.lane'], 'worker');
    t.is(inference.attributes['quiver.batch_rows'], 1);

    // A caller whose context is not sampled gets its answer and no span: the sampled call
    // after it is exported alone.
    exporter.reset();
    const unsampled = '0af7651916cd43dd8448eb211c80319c';
    const res0 = await fetch(`${srv.http}/predict`, {
      method: 'POST',
      body: JSON.stringify({ features: Object.fromEntries(BLUEPRINT_ROW.map((v, i) => [`feature_${i}`, v])) }),
      headers: { traceparent: `00-${unsampled}-${parentSpan}-00` },
    });
    t.is(res0.status, 200);
    const res = await fetch(`${srv.http}/predict`, {
      method: 'POST',
      body: JSON.stringify({ features: Object.fromEntries(BLUEPRINT_ROW.map((v, i) => [`feature_${i}`, v])) }),
      headers: { traceparent: `00-${traceId}-${parentSpan}-01` },
    });
    t.is(res.status, 200);
    await exported('POST /predict');
    const rest = exporter.getFinishedSpans();
    t.false(
      rest.some((s) => s.spanContext().traceId === unsampled),
      'no span of the unsampled call',
    );
    const http = rest.find((s) => s.name === 'POST /predict')!;
    t.is(http.parentSpanContext?.spanId, parentSpan);
    t.deepEqual(
      rest
        .filter((s) => s.parentSpanContext?.spanId === http.spanContext().spanId)
        .map((s) => s.name)
        .sort(),
      ['quiver.inference', 'quiver.queue', 'quiver.validate'],
    );
  } finally {
    await srv.close();
  }
});

test('tracing is off unless the OTEL_* variables ask for it', async (t) => {
  const { tracingRequested } = await import('../src/tracing/tracing.js');
  t.false(tracingRequested({}));
  t.true(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' }));
  t.true(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }));
  t.false(tracingRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }));
  t.false(tracingRequested({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' }));
  void Stage;
});
