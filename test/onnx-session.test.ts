/**
 * The server's onnxruntime session (src/onnx/server-session.ts) runs through onnxruntime-node's
 * native binding, synchronously. These tests hold it to the public API: the same outputs for
 * the same feeds, the same errors, and a release that sticks. An onnxruntime-node upgrade that
 * moves the binding fails here.
 */
import test from 'ava';
import ort from 'onnxruntime-node';

import { ServerSession } from '../src/onnx/server-session.js';
import { sessionOptions } from '../src/onnx/session-options.js';
import { demoModel, tmp, typedModel, writeModel } from './helpers/fixtures.js';

const dir = tmp();
const demoPath = writeModel(dir, 'demo.onnx', demoModel());
const typedPath = writeModel(dir, 'typed.onnx', typedModel());

const plain = (out: Record<string, ort.Tensor>): Record<string, { type: string; dims: readonly number[]; data: unknown[] }> =>
  Object.fromEntries(
    Object.entries(out).map(([name, t]) => [name, { type: t.type, dims: [...t.dims], data: Array.from(t.data as ArrayLike<unknown>) }]),
  );

test('the same outputs as the public API, returned at once (not a promise), for float, int64, bool and int32 tensors', async (t) => {
  const cases: Array<{ path: string; feeds: () => Record<string, ort.Tensor>; outputs: string[] }> = [
    {
      path: demoPath,
      feeds: () => ({
        features: new ort.Tensor(
          'float32',
          Float32Array.from({ length: 30 }, (_, i) => Math.sin(i)),
          [3, 10],
        ),
      }),
      outputs: ['label', 'probabilities'],
    },
    {
      path: typedPath,
      feeds: () => ({
        ids: new ort.Tensor('int64', BigInt64Array.from([1n, 2n, 3n, 40n, 50n, 60n]), [2, 3]),
        mask: new ort.Tensor('bool', Uint8Array.from([1, 0, 1, 1, 1, 0]), [2, 3]),
        scale: new ort.Tensor('float32', Float32Array.from([0.5, 2]), [2, 1]),
      }),
      outputs: ['total', 'scaled', 'count'],
    },
  ];
  for (const c of cases) {
    const server = ServerSession.load(c.path, 1);
    const pub = await ort.InferenceSession.create(c.path, sessionOptions(1));
    try {
      const got = server.run(c.feeds(), c.outputs);
      t.false(got instanceof Promise);
      t.deepEqual(Object.keys(got).sort(), [...c.outputs].sort());
      t.deepEqual(plain(got), plain(await pub.run(c.feeds(), c.outputs)));
      // A subset of the outputs, as the workers fetch only the signature's tensor outputs.
      t.deepEqual(Object.keys(server.run(c.feeds(), [c.outputs[0]!])), [c.outputs[0]]);
    } finally {
      server.release();
      await pub.release();
    }
  }
});

test('errors are thrown as the public API rejects: a missing file, a file that is not a model, a wrong shape', async (t) => {
  const missing = `${dir}/nope.onnx`;
  const notModel = writeModel(dir, 'text.onnx', new TextEncoder().encode('not a model'));
  for (const path of [missing, notModel]) {
    const publicError = await ort.InferenceSession.create(path, sessionOptions(1)).then(
      () => undefined,
      (err: Error) => err.message,
    );
    if (publicError === undefined) return t.fail(`the public API loaded ${path}`);
    t.is(t.throws(() => ServerSession.load(path, 1))?.message, publicError);
  }
  const server = ServerSession.load(demoPath, 1);
  const pub = await ort.InferenceSession.create(demoPath, sessionOptions(1));
  const wrong = (): Record<string, ort.Tensor> => ({ features: new ort.Tensor('float32', new Float32Array(9), [1, 9]) });
  const publicError = await pub.run(wrong()).then(
    () => '',
    (err: Error) => err.message,
  );
  t.regex(publicError, /invalid dimensions/);
  t.is(t.throws(() => server.run(wrong(), ['label']))?.message, publicError);
  // The session still answers after a failed run.
  t.is(server.run({ features: new ort.Tensor('float32', new Float32Array(10), [1, 10]) }, ['label']).label!.dims[0], 1);
  server.release();
  await pub.release();
});

test('a released session refuses to run, and releasing twice is harmless', (t) => {
  const server = ServerSession.load(demoPath, 1);
  server.release();
  server.release();
  t.throws(() => server.run({ features: new ort.Tensor('float32', new Float32Array(10), [1, 10]) }, ['label']), {
    message: /disposed/,
  });
});
