import http2 from 'node:http2';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';

import { CallContext } from '../src/core/context.js';
import { InflightCalls, unary } from '../src/grpc/calls.js';
import { QuiverError } from '../src/core/errors.js';
import { createLogger } from '../src/log/logger.js';
import type { HostTensor } from '../src/core/tensor.js';
import { DataType, type Tensor } from '../src/gen/quiver/v1/tensor.js';
import { buildOnnxModel } from '../src/onnx/builder.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, fixedBatchModel, slowModel, tmp, writeModel } from './helpers/fixtures.js';
import { grpcError, reflectionServices, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const dir = tmp();
const demoPath = writeModel(dir, 'demo.onnx', demoModel());

test('a handler that throws (sync or async) answers INTERNAL with a generic message; the process stays up', async (t) => {
  const server = new grpc.Server();
  const lines: string[] = [];
  const log = createLogger('error', { write: (l: string) => lines.push(l) });
  const calls = new InflightCalls();
  const adapter = { log, inflight: calls };
  const passthrough = (b: Buffer): Buffer => b;
  const def = (path: string) => ({
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  });
  server.addService(
    { sync: def('/t.T/Sync'), async: def('/t.T/Async'), coded: def('/t.T/Coded') },
    {
      sync: unary(
        'Sync',
        () => {
          throw new TypeError('secret detail: cannot read properties of undefined');
        },
        adapter,
      ),
      async: unary(
        'Async',
        async () => {
          await new Promise((r) => setTimeout(r, 1));
          throw new RangeError('secret detail 2');
        },
        adapter,
      ),
      coded: unary(
        'Coded',
        () => {
          throw new QuiverError('QUIVER_ERR_MODEL_NOT_FOUND', 'no such model');
        },
        adapter,
      ),
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = (path: string) =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  for (const path of ['/t.T/Sync', '/t.T/Async']) {
    const err = await grpcError(call(path));
    t.is(err.code, grpc.status.INTERNAL);
    t.regex(err.details, /^internal error \(request id [0-9a-f-]+: see the server log\)$/);
  }
  const coded = await grpcError(call('/t.T/Coded'));
  t.is(coded.code, grpc.status.NOT_FOUND);
  t.is(coded.details, 'no such model');
  t.is(calls.size, 0);
  // The causes went to the log, not to the client.
  t.true(lines.some((l) => l.includes('secret detail: cannot read properties')));
  t.true(lines.some((l) => l.includes('secret detail 2')));
  client.close();
  server.forceShutdown();
});

test("server reflection lists each plane's services", async (t) => {
  const srv = await startServer({ models: [`production-model=${demoPath}`] });
  try {
    const inference = await reflectionServices(srv.address);
    t.true(inference.includes('quiver.v1.PredictionService'), inference.join(','));
    t.true(inference.includes('inference.GRPCInferenceService'), inference.join(','));
    t.false(inference.includes('quiver.v1.RegistryService'));
    const registry = await reflectionServices(srv.registryAddress);
    t.true(registry.includes('quiver.v1.RegistryService'), registry.join(','));
    t.false(registry.includes('quiver.v1.PredictionService'));
  } finally {
    await srv.close();
  }
});

test('a cancelled request still queued frees its queue slot at once and is never run', async (t) => {
  const srv = await startServer({
    models: [`slow=${writeModel(dir, 'slow.onnx', slowModel(100))}`],
    maxBatchRows: 1,
    maxQueueWaitMs: 0,
    queueTargetMs: 0,
  });
  try {
    const v = srv.server.core.models.resolve('slow', '');
    const f = new Map([0, 1, 2, 3].map((j) => [`feature_${j}`, j]));
    // ~2 ms each: far longer, in all, than the 20 ms deadline below.
    const busy = Array.from({ length: 100 }, () =>
      v.batcher.submit([{ dtype: 'float32', dims: [1, 4], data: Float32Array.from(f.values()) }], 1, new CallContext()),
    );
    const ctx = new CallContext();
    const queued = v.batcher.submit([{ dtype: 'float32', dims: [1, 4], data: new Float32Array(4) }], 1, ctx);
    const before = v.batcher.queuedRows;
    ctx.cancel();
    t.is(v.batcher.queuedRows, before - 1);
    const err = await t.throwsAsync(queued);
    t.is((err as QuiverError).code, 'QUIVER_ERR_CANCELLED');
    const expired = await t.throwsAsync(
      v.batcher.submit([{ dtype: 'float32', dims: [1, 4], data: new Float32Array(4) }], 1, new CallContext(Date.now() - 1)),
    );
    t.is((expired as QuiverError).code, 'QUIVER_ERR_DEADLINE_EXCEEDED');
    // A deadline that passes while the request waits behind the busy ones.
    const soon = await t.throwsAsync(
      v.batcher.submit([{ dtype: 'float32', dims: [1, 4], data: new Float32Array(4) }], 1, new CallContext(Date.now() + 20)),
    );
    t.is((soon as QuiverError).code, 'QUIVER_ERR_DEADLINE_EXCEEDED');
    t.regex((soon as QuiverError).message, /^deadline exceeded after \d+ ms in the model 'slow' version 1 queue$/);
    await Promise.all(busy);
    t.is(v.batcher.stats.deadlineDropped, 2);
    t.is(v.batcher.stats.rows, 100);
  } finally {
    await srv.close();
  }
});

test('a client cancel over gRPC mid-queue answers nothing and the server keeps serving', async (t) => {
  const srv = await startServer({
    models: [`production-model=${demoPath}`, `slow=${writeModel(dir, 'slow2.onnx', slowModel(100))}`],
    maxBatchRows: 1,
    // These tests build long queues on purpose: no shedding by waiting time.
    maxQueueWaitMs: 0,
    queueTargetMs: 0,
  });
  try {
    const f = new Map([0, 1, 2, 3].map((j) => [`feature_${j}`, j]));
    // ~2 ms each: the last call is still queued behind them when it is cancelled.
    const busy = Array.from({ length: 100 }, () => srv.client.predict({ modelName: 'slow', features: f }));
    const call = srv.client.raw.predict({ modelName: 'slow', modelVersion: '', features: f, inputs: new Map(), id: '' }, (err) =>
      t.is(err?.code, grpc.status.CANCELLED),
    );
    // Cancelled once the server has every call (queued, running or answered).
    const slow = srv.server.core.models.resolve('slow', '').batcher;
    await eventually(() => slow.queuedRows + slow.inflightBatches + slow.stats.rows >= 101, 'all 101 calls at the server');
    call.cancel();
    await Promise.all(busy);
    const ok = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
    t.is(ok.prediction, 1);
    t.is(slow.queuedRows, 0);
  } finally {
    await srv.close();
  }
});

test('one context shared by many requests (a stream) keeps no listener once they settle', async (t) => {
  const srv = await startServer({ models: [`production-model=${demoPath}`] });
  try {
    const v = srv.server.core.models.resolve('production-model', '');
    const ctx = new CallContext();
    const input = (): HostTensor[] => [{ dtype: 'float32', dims: [1, 10], data: Float32Array.from(BLUEPRINT_ROW) }];
    await Promise.all(Array.from({ length: 1000 }, () => v.batcher.submit(input(), 1, ctx)));
    t.is(ctx.listenerCount, 0);
  } finally {
    await srv.close();
  }
});

test('under concurrent load requests go to the workers in batches, not down the inline lane', async (t) => {
  // A generous inlineMaxUs: the eligibility measurement must not depend on how busy the test machine is.
  const srv = await startServer({ models: [`production-model=${demoPath}`], inlineMaxUs: 10_000, maxQueueWaitMs: 0, queueTargetMs: 0 });
  try {
    const v = srv.server.core.models.resolve('production-model', '');
    t.not(v.batcher.inlineRunner, null);
    await Promise.all(Array.from({ length: 300 }, () => srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) })));
    t.true(v.batcher.stats.inlineRuns < 30, `inline runs: ${v.batcher.stats.inlineRuns}`);
    t.true(v.batcher.stats.batches >= 1);
    t.true(v.batcher.stats.rows / v.batcher.stats.batches > 2, 'batches merge several requests');
    // Alone again, after a quiet moment, a request takes the inline lane.
    await new Promise((r) => setTimeout(r, 50));
    const before = v.batcher.stats.inlineRuns;
    await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
    t.is(v.batcher.stats.inlineRuns, before + 1);
  } finally {
    await srv.close();
  }
});

test('aliases: a request may name one, and the default version follows `production`', async (t) => {
  const repo = tmp();
  const srv = await startServer({ models: [`m=${demoPath}`, `m:2=${writeModel(repo, 'sum.onnx', sumModel())}`] });
  try {
    t.is((await srv.client.predict({ modelName: 'm', features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion, '2');
    srv.server.core.models.setAlias('m', 'production', 1);
    srv.server.core.models.setAlias('m', 'champion', 2);
    t.is((await srv.client.predict({ modelName: 'm', features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion, '1');
    t.is(
      (await srv.client.predict({ modelName: 'm', modelVersion: 'champion', features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion,
      '2',
    );
    t.is(
      (await srv.client.predict({ modelName: 'm', modelVersion: 'production', features: blueprintFeatures(BLUEPRINT_ROW) })).modelVersion,
      '1',
    );
    const meta = await srv.client.metadata('m');
    t.deepEqual(Object.fromEntries(meta.aliases), { production: '1', champion: '2' });
    const err = await grpcError(
      srv.client.predict({ modelName: 'm', modelVersion: 'staging', features: blueprintFeatures(BLUEPRINT_ROW) }),
    );
    t.is(err.details, "model 'm' has no version 'staging'; available versions: 1, 2; aliases: champion, production");
  } finally {
    await srv.close();
  }
});

/** y = sum of the row, over a dynamic number of columns: x [N, M] -> y [N, 1]. */
function raggedModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 'M'] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 1] }],
    initializers: [{ name: 'axes', dtype: 'int64', dims: [1], values: [1] }],
    nodes: [{ opType: 'ReduceSum', inputs: ['x', 'axes'], outputs: ['y'], attributes: { keepdims: { i: 1 } } }],
  });
}

function sumModel(): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'features', dtype: 'float32', dims: ['N', 10] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 1] }],
    initializers: [{ name: 'axes', dtype: 'int64', dims: [1], values: [1] }],
    nodes: [{ opType: 'ReduceSum', inputs: ['features', 'axes'], outputs: ['y'], attributes: { keepdims: { i: 1 } } }],
  });
}

const f32 = (rows: number[][]): Tensor => ({
  datatype: DataType.DATA_TYPE_FP32,
  shape: [rows.length, rows[0]!.length],
  fp32Data: rows.flat(),
  fp64Data: [],
  int32Data: [],
  int64Data: [],
  boolData: [],
  rawData: Buffer.alloc(0),
});

test('requests whose non-batch dimensions differ are never merged into one batch', async (t) => {
  const srv = await startServer({
    models: [`ragged=${writeModel(tmp(), 'ragged.onnx', raggedModel())}`],
    inlineMaxUs: 0,
    maxQueueWaitMs: 0,
    queueTargetMs: 0,
  });
  try {
    const widths = [4, 2, 6, 2, 4];
    const rows = widths.map((w, i) => Array.from({ length: w }, (_, j) => (i + 1) * 10 + j));
    const batch = await srv.client.batchPredict({
      modelName: 'ragged',
      requests: rows.map((r) => ({ features: new Map(), inputs: new Map([['x', f32([r])]]), id: '' })),
    });
    t.deepEqual(
      batch.responses.map((r) => r.result?.prediction),
      rows.map((r) => r.reduce((a, b) => a + b, 0)),
    );
    const single = await Promise.all(rows.map((r) => srv.client.predict({ modelName: 'ragged', inputs: new Map([['x', f32([r])]]) })));
    t.deepEqual(
      single.map((r) => r.prediction),
      rows.map((r) => r.reduce((a, b) => a + b, 0)),
    );
  } finally {
    await srv.close();
  }
});

test('a fixed-batch model: BatchPredict runs each instance alone; dense with several rows is refused', async (t) => {
  const srv = await startServer({ models: [`fixed=${writeModel(tmp(), 'fixed.onnx', fixedBatchModel())}`] });
  try {
    const meta = await srv.client.metadata('fixed');
    t.is(meta.maxBatchRows, 1);
    const res = await srv.client.batchPredict({
      modelName: 'fixed',
      requests: [1, 2, 3].map((v) => ({ features: new Map([0, 1, 2].map((j) => [`feature_${j}`, v + j])), inputs: new Map(), id: '' })),
    });
    t.deepEqual(
      res.responses.map((r) => r.result?.outputs.get('y')?.fp32Data),
      [
        [2, 4, 6],
        [4, 6, 8],
        [6, 8, 10],
      ],
    );
    const err = await grpcError(
      srv.client.batchPredict({
        modelName: 'fixed',
        dense: f32([
          [1, 2, 3],
          [4, 5, 6],
        ]),
      }),
    );
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.regex(err.details, /^dense: this model takes exactly one row per inference \(\[1, 3\]\)/);
  } finally {
    await srv.close();
  }
});

test('a BatchPredict over the instance limit is refused while decoding, before it is built', async (t) => {
  const srv = await startServer({ models: [`production-model=${demoPath}`], maxRequestRows: 1000 });
  try {
    const requests = Array.from({ length: 5000 }, () => ({ features: new Map(), inputs: new Map(), id: '' }));
    const err = await grpcError(srv.client.batchPredict({ requests }));
    t.is(err.code, grpc.status.INVALID_ARGUMENT);
    t.is(err.details, 'requests: more than 1000 instances in one request');
    const many = new Map(Array.from({ length: 70_000 }, (_, i) => [`f${i}`, i]));
    const wide = await grpcError(srv.client.predict({ features: many }));
    t.is(wide.details, 'features: more than 65536 entries in one instance');
  } finally {
    await srv.close();
  }
});

test('each connection may carry 100 streams at once by default (maxConcurrentStreams): more wait in the client', async (t) => {
  const read = async (flags: Record<string, unknown>): Promise<number | undefined> => {
    const srv = await startServer({ models: [`production-model=${demoPath}`], ...flags });
    const session = http2.connect(`http://${srv.address}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve, reject) => {
        session.once('remoteSettings', resolve);
        session.once('error', reject);
      });
      return settings.maxConcurrentStreams;
    } finally {
      session.destroy();
      await srv.close();
    }
  };
  t.is(await read({}), 100);
  t.is(await read({ maxConcurrentStreams: 1000 }), 1000);
});

test('the standing-queue threshold is queueTargetMs, or one batch run time when that is longer', async (t) => {
  // Single-row batches of tens of ms on one worker: waiting for the batch ahead is not overload.
  const srv = await startServer({
    models: [`slow=${writeModel(dir, 'slower.onnx', slowModel(3000))}`],
    maxBatchRows: 1,
    workers: 1,
    queueTargetMs: 5,
    maxQueueWaitMs: 0,
  });
  try {
    const v = srv.server.core.models.resolve('slow', '');
    // Run times as the batcher measures them (on the worker), the same measure as its average.
    const runsMs: number[] = [];
    const row = (): Promise<unknown> =>
      v.batcher
        .submit([{ dtype: 'float32', dims: [1, 4], data: new Float32Array(4) }], 1, new CallContext())
        .then((o) => runsMs.push(o.timing.runUs / 1000));
    for (let i = 0; i < 3; i++) await row();
    const runMs = Math.min(...runsMs);
    t.true(runMs > 15, `a batch took ${runMs.toFixed(1)} ms; the model must be slower than queueTargetMs for this test`);
    const outcome = (p: Promise<unknown>): Promise<string> =>
      p.then(
        () => 'ok',
        (err: unknown) => (err as QuiverError).message,
      );
    const accepted = Array.from({ length: 12 }, () => outcome(row()));
    // Probe while the burst drains: once requests have left the queue after waiting over the
    // threshold for that long again, a new one is refused on arrival.
    let refusal: string | undefined;
    while (refusal === undefined && v.batcher.queuedRows > 0) {
      const probe = row();
      const settledAtOnce = await Promise.race([outcome(probe), new Promise((r) => setTimeout(r, 0, 'pending'))]);
      if (settledAtOnce !== 'pending' && settledAtOnce !== 'ok') refusal = settledAtOnce as string;
      else accepted.push(outcome(probe));
      await new Promise((r) => setTimeout(r, 5));
    }
    t.truthy(refusal, 'a request was refused on arrival while the queue stood');
    const said = Number(
      /^model 'slow' version 1: overloaded \(requests wait over (\d+) ms in its queue\); retry later$/.exec(refusal ?? '')?.[1],
    );
    t.deepEqual(
      (await Promise.all(accepted)).filter((o) => o !== 'ok'),
      [],
      'what was accepted runs',
    );
    // The threshold is the batcher's running average of run times, so at least the shortest run.
    const shortest = Math.min(...runsMs);
    t.true(said >= Math.floor(shortest) && said > 5, `threshold ${said} ms, batches ${shortest.toFixed(1)} ms at the shortest`);
  } finally {
    await srv.close();
  }
});
