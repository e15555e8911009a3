import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { resolveOptions } from '../src/config/options.js';
import { LatencyObjective } from '../src/core/latency-objective.js';
import { RunCostModel } from '../src/core/run-cost.js';
import { slowModel, tmp, writeModel } from './helpers/fixtures.js';
import { startServer } from './helpers/server.js';

const dir = tmp();
const slowPath = writeModel(dir, 'slow.onnx', slowModel(100));
const slowFeatures = (i: number): Map<string, number> => new Map([0, 1, 2, 3].map((j) => [`feature_${j}`, (i + j) / 10]));

test('run cost: the least-squares line over batches of varied sizes recovers fixed and per-row time', (t) => {
  const cost = new RunCostModel();
  cost.prime(120);
  // Before any batch: the warm-up's single-row time, per row (no saving from batching assumed).
  t.deepEqual(cost.line(), { fixedUs: 0, perRowUs: 120 });
  for (let i = 0; i < 200; i++) {
    const rows = 1 + ((i * 37) % 64);
    cost.observe(rows, 400 + 25 * rows);
  }
  const { fixedUs, perRowUs } = cost.line();
  t.true(Math.abs(fixedUs - 400) < 1, String(fixedUs));
  t.true(Math.abs(perRowUs - 25) < 0.01, String(perRowUs));
  t.true(Math.abs(cost.estimateUs(100) - 2900) < 2);
  // The most rows within a budget: (2900 - 400) / 25 = 100.
  t.is(cost.rowsWithin(2900.5, 256), 100);
  t.is(cost.rowsWithin(100, 256), 1, 'at least one row');
  t.is(cost.rowsWithin(1e9, 256), 256, 'at most maxRows');
});

test('run cost: batches all of one size give no slope, so run time is taken as proportional to rows', (t) => {
  const cost = new RunCostModel();
  for (let i = 0; i < 20; i++) cost.observe(256, 5120);
  t.is(cost.line().fixedUs, 0);
  t.true(Math.abs(cost.line().perRowUs - 20) < 1e-9, String(cost.line().perRowUs));
  // Recent batches weigh more: the line follows a machine that became slower.
  const moving = new RunCostModel();
  for (let i = 0; i < 100; i++) moving.observe(1 + (i % 8), 100 * (1 + (i % 8)));
  for (let i = 0; i < 300; i++) moving.observe(1 + (i % 8), 300 * (1 + (i % 8)));
  t.true(Math.abs(moving.line().perRowUs - 300) < 5, String(moving.line().perRowUs));
});

test('run cost: one run far over its estimate (a descheduled thread) moves the line a little, a lasting change moves it all the way', (t) => {
  const cost = new RunCostModel();
  for (let i = 0; i < 100; i++) cost.observe(32, 500);
  cost.observe(32, 50_000);
  // Counted as 4 x 500 µs at most: the estimate moves by a few percent, not 100x.
  t.true(cost.estimateUs(32) < 600, String(cost.estimateUs(32)));
  for (let i = 0; i < 200; i++) cost.observe(32, 5_000);
  t.true(cost.estimateUs(32) > 4_500, String(cost.estimateUs(32)));
  // Near 0, runs up to 100 µs count as measured.
  const tiny = new RunCostModel();
  for (let i = 0; i < 100; i++) tiny.observe(4, 0);
  tiny.observe(4, 100);
  t.true(tiny.estimateUs(4) > 0);
});

test('latency objective: batches are sized so 2 x run time fits, partial batches wait only for rows expected within the slack, and late requests are refused', (t) => {
  const cost = new RunCostModel();
  for (let i = 0; i < 100; i++) {
    const rows = 1 + (i % 32);
    cost.observe(rows, 1000 + 100 * rows);
  }
  let workers = 2;
  const objective = new LatencyObjective("model 'm' version 1", 20, cost, 256, () => workers, 75);
  // 2 x (1000 + 100 B) µs <= 20 ms: B = 90.
  t.deepEqual(objective.plan(0), { rows: 90, holdMs: 0 }, 'no arrivals yet: nothing to wait for');
  t.deepEqual(objective.plan(90).holdMs, 0, 'a full batch leaves at once');
  // Rows arriving fast (one every 0.1 ms): slack of 20 - 2 x 10 ms is 0, so no hold.
  for (let i = 0; i < 50; i++) objective.noteArrival(1, 1000 + i * 0.1);
  t.is(objective.plan(10).holdMs, 0);
  // With maxBatchRows capping the batch below what fits, the slack is spent waiting for rows:
  // a steady 10 rows/ms (one every 0.1 ms for 2 s, four times the rate's time constant).
  const capped = new LatencyObjective("model 'm' version 1", 20, cost, 32, () => workers, 75);
  for (let i = 0; i < 20_000; i++) capped.noteArrival(1, 1000 + i * 0.1);
  const plan = capped.plan(10);
  t.is(plan.rows, 32);
  // Slack 20 - 2 x 4.2 ms = 11.6 ms; the 22 rows missing arrive in about 2.2 ms.
  t.true(plan.holdMs > 2.1 && plan.holdMs < 2.4, String(plan.holdMs));
  // At a trickle (one row in the last second), waiting would not fill the batch in time.
  const trickle = new LatencyObjective("model 'm' version 1", 20, cost, 32, () => workers, 75);
  trickle.noteArrival(1, 1000);
  t.is(trickle.plan(1).holdMs, 0);
  // Refusals: an idle version takes anything. Behind two running batches of 90 rows (20 ms of
  // work) and 89 queued rows (with its own: one more batch, 10 ms), on two workers, a new
  // request would finish in 15 ms: accepted; behind 180 queued rows (three batches, 21.1 ms)
  // it would finish in 20.6 ms: refused, with the objective named.
  t.is(objective.refusal(1, 0, 0, 0), undefined);
  t.is(objective.refusal(1, 89, 2, 180), undefined);
  const refusal = objective.refusal(1, 180, 2, 180);
  t.is(refusal?.reason, 'shed');
  t.regex(
    refusal?.error.message ?? '',
    /^model 'm' version 1: a new request would be answered in about 21 ms, over its latency objective of 20 ms \(latencyTargetMs\); retry later$/,
  );
  // More workers take more batches at once.
  workers = 8;
  t.is(objective.refusal(1, 180, 2, 180), undefined);
  // While every worker is busy a partial batch stays queued to grow; a full one goes.
  workers = 2;
  t.true(objective.holdWhileBusy(10, 2));
  t.false(objective.holdWhileBusy(90, 2));
  t.false(objective.holdWhileBusy(10, 1));
});

test('latencyTargetMs on a real server: the batcher learns the slow model, caps its batches, refuses late requests at once with pushback, and exports its choice', async (t) => {
  const srv = await startServer({ models: [`slow=${slowPath}`], latencyTargetMs: 20, retryPushbackMs: 75 });
  try {
    const model = srv.server.core.models.resolve('slow', '');
    t.is(model.batcher.latencyTargetMs, 20);
    // 600 single-row requests of ~2 ms each at once: far more than 20 ms of work.
    const settled = await Promise.allSettled(
      Array.from({ length: 600 }, (_, i) => srv.client.predict({ modelName: 'slow', features: slowFeatures(i) })),
    );
    const shed = settled.filter((s) => s.status === 'rejected').map((s) => (s as PromiseRejectedResult).reason as grpc.ServiceError);
    const ok = settled.filter((s) => s.status === 'fulfilled').length;
    t.true(ok > 0, 'some are served');
    t.true(shed.length > 0, 'the excess is refused');
    for (const e of shed) {
      t.is(e.code, grpc.status.RESOURCE_EXHAUSTED, e.details);
      t.regex(e.details, /^model 'slow' version 1: a new request would be answered in about \d+ ms, over its latency objective of 20 ms/);
      t.deepEqual(e.metadata.get('grpc-retry-pushback-ms'), ['75']);
    }
    t.is(model.batcher.stats.shed, shed.length);
    t.is(model.batcher.stats.rows, ok);
    // The gauges: batches capped well below maxBatchRows (256) for a model of ~2 ms a row.
    const metrics = await (await fetch(`${srv.http}/metrics`)).text();
    const rows = Number(/^quiver_batch_target_rows\{model="slow",version="1"\} (\S+)$/m.exec(metrics)?.[1]);
    t.true(rows >= 1 && rows < 256, `quiver_batch_target_rows ${rows}`);
    t.regex(metrics, /^quiver_batch_delay_seconds\{model="slow",version="1"\} \S+$/m);
    // The server stays up and answers a lone request.
    t.is((await srv.client.predict({ modelName: 'slow', features: slowFeatures(1) })).modelName, 'slow');
  } finally {
    await srv.close();
  }
});

test('latencyTargets overrides latencyTargetMs per model; without an objective the gauges show the fixed limits', async (t) => {
  const srv = await startServer({
    models: [`slow=${slowPath}`],
    latencyTargetMs: 20,
    latencyTargets: 'slow=0',
    maxBatchRows: 64,
    maxQueueDelayUs: 500,
  });
  try {
    t.is(srv.server.core.models.resolve('slow', '').batcher.latencyTargetMs, 0);
    const metrics = await (await fetch(`${srv.http}/metrics`)).text();
    t.regex(metrics, /^quiver_batch_target_rows\{model="slow",version="1"\} 64$/m);
    t.regex(metrics, /^quiver_batch_delay_seconds\{model="slow",version="1"\} 0\.0005$/m);
  } finally {
    await srv.close();
  }
});

test('latencyTargets: a malformed entry is refused with one line naming it', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['slow', /^option latencyTargets: entry "slow" is not name=ms \(e\.g\. fraud=20,ranker=150\)$/],
    ['slow=fast', /^option latencyTargets: entry "slow=fast" is not name=ms/],
    ['Slow=20', /^option latencyTargets: "Slow" is not a model name/],
    ['slow=20,slow=30', /^option latencyTargets: slow is given twice$/],
    ['slow=700000', /^option latencyTargets: slow=700000 is over 600000 ms$/],
  ];
  for (const [value, message] of cases) {
    const err = t.throws(() => resolveOptions({ flags: { latencyTargets: value } }));
    t.regex(err?.message ?? '', message, value);
  }
  t.is(resolveOptions({ flags: { latencyTargets: ' slow = 20 , fast=5 ' } }).latencyTargets, ' slow = 20 , fast=5 ');
});
