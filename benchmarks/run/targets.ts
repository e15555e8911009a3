/**
 * The table's rows, target by target: (a) raw onnxruntime, (b) the echo server, (b2) the
 * naive gRPC server, (e) the naive REST server, (c, d, f) Quiver. Each starts its server,
 * measures it (measure.ts) and stops it.
 */
import { checkBatch, checkBatchOf, checkPredict } from './answers.js';
import { measureGrpc, measureRest, type Row } from './measure.js';
import { rawOnnxruntime } from './onnxruntime.js';
import { BATCH_ROWS, BIG_BATCH_CONCURRENCY, BIG_BATCH_ROWS } from './options.js';
import { BATCH_PATH, batchBody, bigBatchBody, PREDICT_PATH, predictBody } from './requests.js';
import { startComparisonServer, startQuiverFromDist, stopProcess } from './servers.js';

/** The scratch directory (h2load's and wrk's files), the demo model, and the answer it gives. */
export interface Bench {
  readonly work: string;
  readonly modelPath: string;
  readonly expectedP1: number;
}

export const rawRow = (target: string, rowsPerSecond: number): Row => ({
  target,
  concurrency: null,
  requestsPerSecond: null,
  rowsPerSecond,
  p50Us: null,
  p99Us: null,
  failed: 0,
});

/** (a) The limit, batch BIG_BATCH_ROWS, BATCH_ROWS and 1 (the ratios find them by their labels). */
export async function rawOnnxruntimeRows(bench: Bench): Promise<Row[]> {
  process.stderr.write('(a) raw onnxruntime\n');
  const rawBig = await rawOnnxruntime(bench.modelPath, BIG_BATCH_ROWS, 3);
  const rawBatch = await rawOnnxruntime(bench.modelPath, BATCH_ROWS, 3);
  const rawSingle = await rawOnnxruntime(bench.modelPath, 1, 3);
  return [
    rawRow(`(a) raw onnxruntime, batch ${BIG_BATCH_ROWS}`, rawBig),
    rawRow(`(a) raw onnxruntime, batch ${BATCH_ROWS}`, rawBatch),
    rawRow('(a) raw onnxruntime, batch 1', rawSingle),
  ];
}

/** Dense BatchPredict against one server at both message sizes, BATCH_ROWS and BIG_BATCH_ROWS; `label` names each size's rows. */
async function denseRows(bench: Bench, address: string, label: (rows: number) => string): Promise<Row[]> {
  return [
    ...(await measureGrpc(bench.work, label(BATCH_ROWS), address, BATCH_PATH, batchBody, BATCH_ROWS, checkBatch)),
    ...(await measureGrpc(
      bench.work,
      label(BIG_BATCH_ROWS),
      address,
      BATCH_PATH,
      bigBatchBody,
      BIG_BATCH_ROWS,
      checkBatchOf(BIG_BATCH_ROWS),
      BIG_BATCH_CONCURRENCY,
    )),
  ];
}

/** (b) The transport ceiling: a grpc-js echo of the same messages, Predict and dense BatchPredict (both sizes). */
export async function echoRows(bench: Bench): Promise<Row[]> {
  process.stderr.write('(b) echo\n');
  const { child, port } = await startComparisonServer('echo-server.ts');
  const address = `127.0.0.1:${port}`;
  const rows = [
    ...(await measureGrpc(
      bench.work,
      '(b) grpc-js echo (transport ceiling)',
      address,
      PREDICT_PATH,
      predictBody,
      1,
      checkPredict(bench.expectedP1, false),
    )),
    ...(await denseRows(bench, address, (rows) => `(b) grpc-js echo, dense ${rows}-row messages`)),
  ];
  await stopProcess(child);
  return rows;
}

/** (b2) What users write: grpc-js running onnxruntime inline per request. */
export async function naiveGrpcRows(bench: Bench): Promise<Row[]> {
  process.stderr.write('(b2) naive\n');
  const { child, port } = await startComparisonServer('naive-server.ts', [bench.modelPath]);
  const rows = await measureGrpc(
    bench.work,
    '(b2) naive grpc-js + inline onnxruntime',
    `127.0.0.1:${port}`,
    PREDICT_PATH,
    predictBody,
    1,
    checkPredict(bench.expectedP1, true),
  );
  await stopProcess(child);
  return rows;
}

/** (e) A naive Fastify REST server running onnxruntime inline (wrk). */
export async function naiveRestRows(bench: Bench): Promise<Row[]> {
  process.stderr.write('(e) naive REST\n');
  const { child, port } = await startComparisonServer('naive-rest-server.ts', [bench.modelPath]);
  const rows = await measureRest(
    bench.work,
    bench.expectedP1,
    '(e) naive Fastify REST + inline onnxruntime',
    `http://127.0.0.1:${port}/predict`,
  );
  await stopProcess(child);
  return rows;
}

/** (c) Quiver Predict, (d) Quiver BatchPredict (both sizes), and (f) its REST gateway when wrk is installed. */
export async function quiverRows(bench: Bench, withRest: boolean): Promise<Row[]> {
  process.stderr.write('(c, d, f) quiver\n');
  const { child, port, httpPort } = await startQuiverFromDist(bench.modelPath);
  const address = `127.0.0.1:${port}`;
  const rows = [
    ...(await measureGrpc(bench.work, '(c) Quiver Predict', address, PREDICT_PATH, predictBody, 1, checkPredict(bench.expectedP1, true))),
    ...(await denseRows(bench, address, (rows) => `(d) Quiver BatchPredict, dense ${rows} rows`)),
  ];
  if (withRest)
    rows.push(
      ...(await measureRest(bench.work, bench.expectedP1, '(f) Quiver REST gateway /predict', `http://127.0.0.1:${httpPort}/predict`)),
    );
  await stopProcess(child);
  return rows;
}
