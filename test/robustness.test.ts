import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import test from 'ava';

import { CallContext } from '../src/core/context.js';
import { InflightCalls, unary } from '../src/grpc/calls.js';
import { QuiverError } from '../src/core/errors.js';
import { createLogger } from '../src/log/logger.js';
import { BLUEPRINT_ROW, blueprintFeatures, demoModel, slowModel, tmp, writeModel } from './helpers/fixtures.js';
import { grpcError, startServer } from './helpers/server.js';

const dir = tmp();
const demoPath = writeModel(dir, 'demo.onnx', demoModel());

test('a handler that throws (sync or async) answers INTERNAL with a generic message; the process stays up', async (t) => {
  const server = new grpc.Server();
  const lines: string[] = [];
  const log = createLogger('error', { write: (l: string) => lines.push(l) });
  const calls = new InflightCalls();
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
      sync: unary('Sync', log, calls, () => {
        throw new TypeError('secret detail: cannot read properties of undefined');
      }),
      async: unary('Async', log, calls, async () => {
        await new Promise((r) => setTimeout(r, 1));
        throw new RangeError('secret detail 2');
      }),
      coded: unary('Coded', log, calls, () => {
        throw new QuiverError('QUIVER_ERR_MODEL_NOT_FOUND', 'no such model');
      }),
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
    t.is(err.details, 'internal error');
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

test('server reflection lists the services', async (t) => {
  const srv = await startServer({ models: [`production-model=${demoPath}`] });
  try {
    const reflectionProto = new URL('../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url)
      .pathname;
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { keepCase: true })) as unknown as {
      grpc: {
        reflection: {
          v1: {
            ServerReflection: new (
              a: string,
              c: grpc.ChannelCredentials,
            ) => grpc.Client & {
              ServerReflectionInfo(): grpc.ClientDuplexStream<object, { list_services_response?: { service: Array<{ name: string }> } }>;
            };
          };
        };
      };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(srv.address, grpc.credentials.createInsecure());
    const stream = client.ServerReflectionInfo();
    const reply = await new Promise<{ list_services_response?: { service: Array<{ name: string }> } }>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    stream.end();
    client.close();
    const names = reply.list_services_response!.service.map((s) => s.name);
    t.true(names.includes('quiver.v1.PredictionService'), names.join(','));
  } finally {
    await srv.close();
  }
});

test('a cancelled request still queued frees its queue slot at once and is never run', async (t) => {
  const srv = await startServer({ models: [`slow=${writeModel(dir, 'slow.onnx', slowModel(100))}`], maxBatchRows: 1 });
  try {
    const v = srv.server.core.models.resolve('slow', '');
    const f = new Map([0, 1, 2, 3].map((j) => [`feature_${j}`, j]));
    const busy = Array.from({ length: 6 }, () =>
      v.batcher.submit([{ dtype: 'float32', dims: [1, 4], data: Float32Array.from(f.values()) }], 1, new CallContext()),
    );
    const ctx = new CallContext();
    const queued = v.batcher.submit([{ dtype: 'float32', dims: [1, 4], data: new Float32Array(4) }], 1, ctx);
    await new Promise((r) => setTimeout(r, 5));
    const before = v.batcher.queuedRows;
    ctx.cancel();
    t.is(v.batcher.queuedRows, before - 1);
    const err = await t.throwsAsync(queued);
    t.is((err as QuiverError).code, 'QUIVER_ERR_CANCELLED');
    const expired = await t.throwsAsync(
      v.batcher.submit([{ dtype: 'float32', dims: [1, 4], data: new Float32Array(4) }], 1, new CallContext(Date.now() - 1)),
    );
    t.is((expired as QuiverError).code, 'QUIVER_ERR_DEADLINE_EXCEEDED');
    await Promise.all(busy);
  } finally {
    await srv.close();
  }
});

test('a client cancel over gRPC mid-queue answers nothing and the server keeps serving', async (t) => {
  const srv = await startServer({
    models: [`production-model=${demoPath}`, `slow=${writeModel(dir, 'slow2.onnx', slowModel(100))}`],
    maxBatchRows: 1,
  });
  try {
    const f = new Map([0, 1, 2, 3].map((j) => [`feature_${j}`, j]));
    const busy = Array.from({ length: 5 }, () => srv.client.predict({ modelName: 'slow', features: f }));
    const call = srv.client.raw.predict({ modelName: 'slow', modelVersion: '', features: f, inputs: new Map(), id: '' }, (err) =>
      t.is(err?.code, grpc.status.CANCELLED),
    );
    await new Promise((r) => setTimeout(r, 5));
    call.cancel();
    await Promise.all(busy);
    const ok = await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
    t.is(ok.prediction, 1);
    t.is(srv.server.core.models.resolve('slow', '').batcher.queuedRows, 0);
  } finally {
    await srv.close();
  }
});
