/**
 * The live feedback loop on real servers: every answer's id, outcomes joined to the prediction
 * log in the registry's database (SQLite, and PostgreSQL across two replicas), the live
 * accuracy and MAE in /stats and /metrics, the bounds, and `quiver data export` feeding
 * `quiver train`.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { liveFigure, wilsonInterval } from '../src/feedback/live-quality.js';
import { storeWriter } from '../src/feedback/log-writer.js';
import { PredictionLog } from '../src/feedback/prediction-log.js';
import { PredictionStore } from '../src/feedback/prediction-store.js';
import { SqliteLogWriter } from '../src/feedback/sqlite-log-writer.js';
import type { RecordOutcomesRequest, RecordOutcomesResponse } from '../src/gen/quiver/v1/prediction.js';
import { createLogger } from '../src/log/logger.js';
import { SqliteStorage } from '../src/registry/sqlite-store.js';
import { POSTGRES } from './helpers/backends.js';
import { BLUEPRINT_ROW, BLUEPRINT_ROW_2, blueprintFeatures, demoModel, regressorModel, tmp, writeModel } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';
import { type Client, grpcError, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const run = promisify(execFile);

function recordOutcomes(client: Client, outcomes: RecordOutcomesRequest['outcomes']): Promise<RecordOutcomesResponse> {
  return new Promise((resolve, reject) =>
    client.raw.recordOutcomes({ outcomes }, (err: grpc.ServiceError | null, res: RecordOutcomesResponse) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function postJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function liveOf(http: string): Promise<Record<string, unknown> | undefined> {
  const stats = (await (await fetch(`${http}/stats`)).json()) as { versions: Array<{ live?: Record<string, unknown> }> };
  return stats.versions[0]?.live;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('every answer carries an id: the caller’s when given, a generated one otherwise (Predict, BatchPredict items, PredictStream, REST)', async (t) => {
  const srv = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`] });
  try {
    const features = blueprintFeatures(BLUEPRINT_ROW);
    t.regex((await srv.client.predict({ features })).id, UUID);
    t.is((await srv.client.predict({ features, id: 'mine-1' })).id, 'mine-1');
    const batch = await srv.client.batchPredict({
      requests: [
        { features, inputs: new Map(), id: 'b-0' },
        { features, inputs: new Map(), id: '' },
      ],
    });
    t.is(batch.responses[0]?.result?.id, 'b-0');
    t.regex(batch.responses[1]?.result?.id ?? '', UUID);
    // A stream's answers, the failed item's included.
    const stream = srv.client.raw.predictStream();
    const answers: Array<{ id: string; status?: { code: number } }> = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (a: { id: string; status?: { code: number } }) => answers.push(a));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    stream.write({ request: { modelName: 'production-model', modelVersion: '', features, inputs: new Map(), id: 's-0' } });
    stream.write({ request: { modelName: 'production-model', modelVersion: '', features, inputs: new Map(), id: '' } });
    stream.write({
      request: { modelName: 'production-model', modelVersion: '', features: new Map([['feature_0', 1]]), inputs: new Map(), id: '' },
    });
    stream.end();
    await done;
    t.is(answers[0]?.id, 's-0');
    t.regex(answers[1]?.id ?? '', UUID);
    t.is(answers[2]?.status?.code, grpc.status.INVALID_ARGUMENT);
    t.regex(answers[2]?.id ?? '', UUID);
    const rest = await postJson(`${srv.http}/predict`, { features: Object.fromEntries(features) });
    t.regex(String(rest.body.id), UUID);
    const restBatch = await postJson(`${srv.http}/predict/batch`, {
      requests: [{ features: Object.fromEntries(features), id: 'r-0' }, { features: Object.fromEntries(features) }],
    });
    const predictions = restBatch.body.predictions as Array<{ id: string }>;
    t.is(predictions[0]?.id, 'r-0');
    t.regex(predictions[1]?.id ?? '', UUID);
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await srv.client.predict({ features })).id);
    t.is(ids.size, 50, 'generated ids are unique');
  } finally {
    await srv.close();
  }
});

test('outcomes join logged predictions: RecordOutcomes and POST /feedback, the live accuracy with its interval in /stats and /metrics, unknown ids counted', async (t) => {
  const srv = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`], liveQualityMinSamples: 10 });
  try {
    const rows = [BLUEPRINT_ROW, BLUEPRINT_ROW_2];
    const answers = [];
    for (let i = 0; i < 20; i++)
      answers.push(await srv.client.predict({ features: blueprintFeatures(rows[i % 2] as number[]), id: `p-${i}` }));
    // 15 right, 5 wrong.
    const truth = answers.map((a, i) => (i < 15 ? a.prediction : 1 - a.prediction));
    const first = await recordOutcomes(
      srv.client,
      answers.slice(0, 10).map((a, i) => ({ id: a.id, label: truth[i] })),
    );
    t.deepEqual(first, { recorded: 10, unknown: 0, unknownIds: [] });
    // The blueprint-style route: one outcome, and a list with an id nobody logged.
    const one = await postJson(`${srv.http}/feedback`, { id: 'p-10', label: truth[10] });
    t.is(one.status, 200);
    t.deepEqual(one.body, { recorded: 1, unknown: 0, unknown_ids: [] });
    const many = await postJson(`${srv.http}/feedback`, {
      outcomes: [...answers.slice(11).map((a, i) => ({ id: a.id, label: truth[11 + i] })), { id: 'never-answered', label: 1 }],
    });
    t.deepEqual(many.body, { recorded: 9, unknown: 1, unknown_ids: ['never-answered'] });
    // Live accuracy 15/20 with Wilson's interval, the same in /stats and /metrics.
    const expected = wilsonInterval(15, 20);
    await eventually(async () => (await liveOf(srv.http))?.samples === 20, 'the live accuracy to cover 20 outcomes');
    const live = (await liveOf(srv.http)) as Record<string, number | string | boolean>;
    t.is(live.metric, 'accuracy');
    t.is(live.value, 0.75);
    t.true(Math.abs((live.ci_low as number) - expected.low) < 1e-9 && Math.abs((live.ci_high as number) - expected.high) < 1e-9);
    t.is(live.sufficient, true);
    const metrics = await (await fetch(`${srv.metrics}/metrics`)).text();
    t.regex(metrics, /^ml_model_live_accuracy\{model="production-model",version="1"\} 0\.75$/m);
    t.regex(metrics, /^ml_model_live_samples\{model="production-model",version="1"\} 20$/m);
    t.regex(metrics, /^ml_model_live_sufficient\{model="production-model",version="1"\} 1$/m);
    t.regex(metrics, /^quiver_outcomes_total\{result="unknown"\} 1$/m);
    // Bad outcomes name their field and change nothing.
    const bad = await grpcError(recordOutcomes(srv.client, [{ id: 'p-0', label: 1, value: 2 }]));
    t.is(bad.code, grpc.status.INVALID_ARGUMENT);
    t.regex(bad.details, /outcomes\[0\]: give either label .* or value .*, not both/);
    t.regex((await grpcError(recordOutcomes(srv.client, [{ id: '', label: 1 }]))).details, /outcomes\[0\]\.id: required/);
    t.regex((await grpcError(recordOutcomes(srv.client, []))).details, /outcomes: empty/);
    const wrongType = await postJson(`${srv.http}/feedback`, { id: 'p-0', label: 'yes' });
    t.is(wrongType.status, 400);
    t.regex(String(wrongType.body.message), /^label: expected a number, got a string$/);
    t.is((await postJson(`${srv.http}/feedback`, { outcomes: [{ id: 'p-0', lable: 1 }] })).status, 400);
    const noLabel = await postJson(`${srv.http}/feedback`, { id: 'p-0' });
    t.is(noLabel.status, 400);
    t.regex(String(noLabel.body.message), /^label: required/);
    t.is((await liveOf(srv.http))?.value, 0.75);
  } finally {
    await srv.close();
  }
});

test('a regressor’s live MAE, with the normal interval', async (t) => {
  const srv = await startServer({ models: [`reg=${writeModel(tmp(), 'reg.onnx', regressorModel())}`], defaultModel: 'reg' });
  try {
    // y = 2a - b + 0.5
    const xs = [
      [1, 0],
      [0, 1],
      [2, 2],
      [3, 1],
    ];
    const errors = [0.5, -1, 2, 0];
    for (const [i, [a, b]] of xs.entries()) {
      const r = await srv.client.predict({
        modelName: 'reg',
        features: new Map([
          ['a', a as number],
          ['b', b as number],
        ]),
        id: `y-${i}`,
      });
      t.is(r.prediction, 2 * (a as number) - (b as number) + 0.5);
      const res = await recordOutcomes(srv.client, [{ id: `y-${i}`, value: r.prediction + (errors[i] as number) }]);
      t.is(res.recorded, 1);
    }
    await eventually(async () => (await liveOf(srv.http))?.samples === 4, 'the live MAE to cover 4 outcomes');
    const live = (await liveOf(srv.http)) as Record<string, number | string | boolean>;
    const expected = liveFigure(
      { modelName: 'reg', version: 1, samples: 4, correct: 0, absErrorSum: 3.5, sqErrorSum: 0.25 + 1 + 4 },
      false,
      100,
    );
    t.is(live.metric, 'mae');
    t.is(live.value, 0.875);
    t.true(Math.abs((live.ci_high as number) - expected.ciHigh) < 1e-9);
    t.is(live.sufficient, false);
    t.regex(await (await fetch(`${srv.metrics}/metrics`)).text(), /^ml_model_live_mae\{model="reg",version="1"\} 0\.875$/m);
  } finally {
    await srv.close();
  }
});

test('the log keeps the allowed features only and stays within predictionLogMaxRows; with predictionLogSampleRate 0 it logs nothing', async (t) => {
  const dataDir = tmp('quiver-data-');
  const srv = await startServer({
    dataDir,
    models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`],
    predictionLogFeatures: 'feature_0, feature_2',
    predictionLogMaxRows: 100,
  });
  const store = srv.server.registry?.predictions as PredictionStore;
  try {
    for (let i = 0; i < 30; i++) {
      await srv.client.batchPredict({
        requests: Array.from({ length: 10 }, (_, j) => ({
          features: blueprintFeatures(BLUEPRINT_ROW),
          inputs: new Map(),
          id: `m-${i}-${j}`,
        })),
      });
    }
    await eventually(
      async () => (await (await fetch(`${srv.metrics}/metrics`)).text()).includes('quiver_prediction_log_rows_total{result="written"} 300'),
      '300 rows written',
    );
    t.true((await store.count()) <= 100, 'the table keeps at most predictionLogMaxRows');
    const res = await recordOutcomes(srv.client, [
      { id: 'm-29-9', label: 1 },
      { id: 'm-0-0', label: 1 },
    ]);
    t.deepEqual(res, { recorded: 1, unknown: 1, unknownIds: ['m-0-0'] }, 'the oldest rows were pruned: their outcomes are unknown');
    const [row] = await store.exportRows('production-model', 1, 0, 0, 10);
    // The model's FP32 inputs, as it saw them.
    t.deepEqual(row?.features, { feature_0: Math.fround(BLUEPRINT_ROW[0] as number), feature_2: Math.fround(BLUEPRINT_ROW[2] as number) });
  } finally {
    await srv.close();
  }
  // Off: nothing is logged and outcomes say why.
  const off = await startServer({
    models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`],
    predictionLogSampleRate: 0,
  });
  try {
    await off.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW), id: 'x' });
    const err = await grpcError(recordOutcomes(off.client, [{ id: 'x', label: 1 }]));
    t.is(err.code, grpc.status.FAILED_PRECONDITION);
    t.regex(err.details, /predictionLogSampleRate is 0/);
    t.is(await (off.server.registry?.predictions as PredictionStore).count(), 0);
  } finally {
    await off.close();
  }
});

test('bounded: pending rows stop at their cap when the database fails, sampling keeps its share and its rate cap, and a flood of unknown ids stores nothing', async (t) => {
  const dir = tmp();
  const storage = new SqliteStorage(join(dir, 'registry.db'));
  const store = new PredictionStore(storage);
  // The writer thread cannot open its database (a folder that is not there): every write fails.
  const log = new PredictionLog(
    store,
    new SqliteLogWriter(join(dir, 'missing', 'registry.db'), 1000),
    { sampleRate: 1, features: '*', maxRows: 1000, maxAgeMs: 3_600_000, maxPending: 50 },
    createLogger('silent'),
  );
  const version = { name: 'm', version: 1, signature: { featureNames: null } } as never;
  for (let i = 0; i < 200; i++) {
    const c = log.capture(version, undefined);
    if (c !== undefined) log.record(c, `id-${i}`, 1);
  }
  t.is(log.counts.dropped, 150);
  await log.flush();
  t.is(log.counts.failed, 50, 'a failed write loses its rows; serving goes on');
  await log.stop();
  // predictionLogSampleRate 0.25: about a quarter of the answers (500 of 2000, give or take 5 standard deviations).
  const quarter = new PredictionLog(
    store,
    storeWriter(store, 1000),
    { sampleRate: 0.25, features: '*', maxRows: 1000, maxAgeMs: 3_600_000 },
    createLogger('silent'),
  );
  let sampled = 0;
  for (let i = 0; i < 2000; i++) if (quarter.capture(version, undefined) !== undefined) sampled++;
  t.true(sampled > 400 && sampled < 600, `${sampled} of 2000 sampled`);
  // predictionLogMaxRowsPerSecond 100: a burst takes one second's worth, then the bucket refills at the cap.
  const capped = new PredictionLog(
    store,
    storeWriter(store, 1000),
    { sampleRate: 1, features: '*', maxRows: 1000, maxAgeMs: 3_600_000, maxRowsPerSecond: 100 },
    createLogger('silent'),
  );
  const started = performance.now();
  let taken = 0;
  for (let i = 0; i < 1000; i++) if (capped.capture(version, undefined) !== undefined) taken++;
  const refill = ((performance.now() - started) * 100) / 1000;
  t.true(taken >= 100 && taken <= 100 + Math.ceil(refill), `${taken} of a burst of 1000 taken`);
  t.is(capped.counts.capped, 1000 - taken);
  await storage.close();

  const srv = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`] });
  try {
    await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW), id: 'known' });
    const predictions = srv.server.registry?.predictions as PredictionStore;
    await eventually(async () => (await predictions.count()) === 1, 'the answer to be logged');
    const floods = await Promise.all(
      Array.from({ length: 8 }, (_, k) =>
        recordOutcomes(
          srv.client,
          Array.from({ length: 4096 }, (_, i) => ({ id: `flood-${k}-${i}`, label: 1 })),
        ),
      ),
    );
    for (const f of floods) {
      t.is(f.unknown, 4096);
      t.is(f.unknownIds.length, 100, 'an answer lists at most 100 unknown ids');
    }
    t.is(await predictions.count(), 1, 'unknown outcomes are not stored');
    t.deepEqual(await recordOutcomes(srv.client, [{ id: 'known', label: 1 }]), { recorded: 1, unknown: 0, unknownIds: [] });
  } finally {
    await srv.close();
  }
});

test('two replicas on PostgreSQL: an outcome sent to one joins the prediction the other logged, and both report the same live accuracy', async (t) => {
  const db = await POSTGRES.create();
  const model = writeModel(tmp(), 'demo.onnx', demoModel());
  const a = await startServer({ registryUrl: db.url, models: [`production-model=${model}`] });
  const b = await startServer({ registryUrl: db.url, models: [`production-model=${model}`] });
  try {
    const onA = await a.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
    const onB = await b.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW_2) });
    // At once, each to the other replica: the one that did not log it waits for the other's write.
    const [toB, toA] = await Promise.all([
      recordOutcomes(b.client, [{ id: onA.id, label: onA.prediction }]),
      recordOutcomes(a.client, [{ id: onB.id, label: 1 - onB.prediction }]),
    ]);
    t.is(toB.recorded, 1);
    t.is(toA.recorded, 1);
    for (const srv of [a, b]) {
      await eventually(async () => (await liveOf(srv.http))?.samples === 2, 'each replica to see both outcomes', 20_000);
      t.is((await liveOf(srv.http))?.value, 0.5);
    }
  } finally {
    await a.close();
    await b.close();
    await db.drop();
  }
});

test('quiver data export writes the logged predictions that have outcomes as a CSV that quiver train takes', async (t) => {
  const dataDir = tmp('quiver-data-');
  const srv = await startServer({ dataDir, demo: true });
  const outcomes = [];
  try {
    for (let i = 0; i < 120; i++) {
      const row = Array.from({ length: 10 }, (_, j) => Math.sin(i * 7 + j * 3) * 2);
      const r = await srv.client.predict({ features: blueprintFeatures(row) });
      // The truth of the blueprint's rule, whatever the model said.
      outcomes.push({ id: r.id, label: (row[0] as number) + (row[1] as number) + 0.5 * (row[2] as number) > 0 ? 1 : 0 });
    }
    t.is((await recordOutcomes(srv.client, outcomes)).recorded, 120);
  } finally {
    await srv.close();
  }
  const out = join(tmp(), 'next.csv');
  const quiver = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { cwd: ROOT });
  const exported = JSON.parse(
    (await quiver(['data', 'export', '--model-name', 'production-model', '--since', '1h', '--data-dir', dataDir, '--output', out])).stdout,
  ) as {
    rows: number;
    columns: string[];
  };
  t.is(exported.rows, 120);
  t.deepEqual(exported.columns, [...Array.from({ length: 10 }, (_, j) => `feature_${j}`), 'target']);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  t.is(lines.length, 121);
  const trained = JSON.parse(
    (await quiver(['train', '--data-path', out, '--model-name', 'production-model', '--no-progress', '--data-dir', dataDir])).stdout,
  ) as {
    version: number;
  };
  t.is(trained.version, 2);
  const missing = await quiver([
    'data',
    'export',
    '--model-name',
    'production-model',
    '--version',
    '2',
    '--data-dir',
    dataDir,
    '--output',
    out,
  ]).catch((err: { code: number; stderr: string }) => err);
  t.is((missing as { code: number }).code, 1);
  t.regex((missing as { stderr: string }).stderr, /no logged prediction of model 'production-model' version 2 has an outcome yet/);
});
