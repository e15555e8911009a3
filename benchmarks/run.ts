/**
 * `npm run bench`: one run, one table. Measures on this machine, side by side:
 *   (a) raw in-process onnxruntime rows/s for the demo model (the limit),
 *   (b) a grpc-js echo server with the same messages (the transport ceiling),
 *   (b2) a naive grpc-js server running onnxruntime inline per request (what users write),
 *   (c) Quiver Predict, (d) Quiver BatchPredict (dense, 256 rows per call),
 *   (e) a naive Fastify REST server running onnxruntime inline, (f) Quiver's REST gateway /predict (wrk),
 * at concurrency 1, 16 and 64 with h2load (one connection, c streams), p50/p99 from h2load's
 * per-request log. Writes the table with the machine and versions to benchmarks/results/.
 *
 * Options: BENCH_DURATION (s, default 10), BENCH_WARMUP (s, default 2),
 *          BENCH_CONCURRENCY (default "1,16,64").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer as createHttpServer } from 'node:http';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import ort from 'onnxruntime-node';

import { BatchPredictRequest, BatchPredictResponse, PredictRequest, PredictResponse } from '../src/gen/quiver/v1/prediction.js';
import { DataType } from '../src/gen/quiver/v1/tensor.js';
import { buildDemoModel } from '../src/onnx/demo-model.js';
import { grpcFrame, h2loadVersion, type LoadResult, runLoad, verifyCall } from './lib/h2load.js';
import { machineInfo, writeResults } from './lib/machine.js';
import { runWrk, wrkVersion } from './lib/wrk.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);
const BATCH_ROWS = 256;
const FEATURES = 10;

const work = mkdtempSync(join(tmpdir(), 'quiver-bench-'));
const modelPath = join(work, 'demo.onnx');
writeFileSync(modelPath, buildDemoModel());

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function start(cmd: string[], ready: RegExp, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, cmd, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) resolve(child);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${cmd.join(' ')} exited with ${code}:\n${out}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** (a) The limit: onnxruntime on one thread, in process, no transport. */
async function rawOnnxruntime(rows: number, seconds: number): Promise<number> {
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
  const x = new Float32Array(rows * FEATURES).map((_, i) => Math.sin(i));
  const feeds = (): Record<string, ort.Tensor> => ({ features: new ort.Tensor('float32', x, [rows, FEATURES]) });
  for (let i = 0; i < 500; i++) await session.run(feeds());
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 100; i++) await session.run(feeds());
    calls += 100;
  }
  const elapsed = (performance.now() - t0) / 1000;
  await session.release();
  return (calls * rows) / elapsed;
}

const row = Array.from({ length: FEATURES }, (_, i) => Math.round(Math.sin(i + 1) * 1000) / 1000);
const predictBody = grpcFrame(
  PredictRequest.encode({
    modelName: 'production-model',
    modelVersion: '',
    features: new Map(row.map((v, i) => [`feature_${i}`, v])),
    inputs: new Map(),
    id: '',
  }).finish(),
);
const dense = new Float32Array(BATCH_ROWS * FEATURES).map((_, i) => Math.sin(i));
const batchBody = grpcFrame(
  BatchPredictRequest.encode({
    modelName: 'production-model',
    modelVersion: '',
    requests: [],
    dense: {
      datatype: DataType.DATA_TYPE_FP32,
      shape: [BATCH_ROWS, FEATURES],
      fp32Data: [],
      fp64Data: [],
      int32Data: [],
      int64Data: [],
      boolData: [],
      rawData: Buffer.from(dense.buffer),
    },
  }).finish(),
);

interface Row {
  readonly target: string;
  readonly concurrency: number | null;
  readonly requestsPerSecond: number | null;
  readonly rowsPerSecond: number;
  readonly p50Us: number | null;
  readonly p99Us: number | null;
  readonly failed: number;
}

async function measure(
  target: string,
  address: string,
  path: string,
  body: Buffer,
  rowsPerCall: number,
  check: (msg: Buffer) => void,
): Promise<Row[]> {
  const probe = await verifyCall(address, path, body);
  if (probe.status !== 0) throw new Error(`${target}: verification call failed with grpc-status ${probe.status}: ${probe.details}`);
  check(probe.message);
  const out: Row[] = [];
  for (const c of CONCURRENCY) {
    const r: LoadResult = await runLoad({
      url: `http://${address}${path}`,
      body,
      concurrency: c,
      durationS: DURATION,
      warmupS: WARMUP,
      workDir: work,
      responseBytes: probe.message.length + 5,
    });
    out.push({
      target,
      concurrency: c,
      requestsPerSecond: r.requestsPerSecond,
      rowsPerSecond: r.requestsPerSecond * rowsPerCall,
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      failed: r.failed,
    });
    process.stderr.write(`  ${target} c=${c}: ${Math.round(r.requestsPerSecond)} req/s, p50 ${r.p50Us} µs, p99 ${r.p99Us} µs\n`);
  }
  // After the load, the answer must still be right (h2load does not read grpc-status).
  const after = await verifyCall(address, path, body);
  if (after.status !== 0) throw new Error(`${target}: grpc-status ${after.status} after the load: ${after.details}`);
  check(after.message);
  return out;
}

async function main(): Promise<void> {
  const h2load = await h2loadVersion();
  if (h2load === null) {
    process.stderr.write('h2load not found: install Debian/Ubuntu package nghttp2-client (apt-get install nghttp2-client)\n');
    process.exitCode = 1;
    return;
  }
  if (!existsSync(join(ROOT, 'dist/src/cli/bin.js'))) {
    process.stderr.write('dist/ is missing: run npm run build (npm ci does it)\n');
    process.exitCode = 1;
    return;
  }
  const machine = machineInfo(ROOT);
  process.stderr.write(`benchmark: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}, ${DURATION}s per run\n`);

  const session = await ort.InferenceSession.create(modelPath);
  const expected = await session.run({ features: new ort.Tensor('float32', Float32Array.from(row), [1, FEATURES]) });
  const expectedP1 = (expected.probabilities!.data as Float32Array)[1] as number;
  await session.release();
  const checkPredict = (exact: boolean) => (msg: Buffer) => {
    const res = PredictResponse.decode(msg);
    if (exact && res.probabilities[1] !== expectedP1)
      throw new Error(`wrong answer: ${JSON.stringify(res.probabilities)} != ${expectedP1}`);
  };
  const checkBatch = (msg: Buffer) => {
    const res = BatchPredictResponse.decode(msg);
    const probs = res.denseOutputs.get('probabilities');
    if (probs === undefined || probs.rawData.length !== BATCH_ROWS * 2 * 4) throw new Error('wrong dense answer');
  };

  const rows: Row[] = [];
  process.stderr.write('(a) raw onnxruntime\n');
  const rawBatch = await rawOnnxruntime(BATCH_ROWS, 3);
  const rawSingle = await rawOnnxruntime(1, 3);
  rows.push({
    target: `(a) raw onnxruntime, batch ${BATCH_ROWS}`,
    concurrency: null,
    requestsPerSecond: null,
    rowsPerSecond: rawBatch,
    p50Us: null,
    p99Us: null,
    failed: 0,
  });
  rows.push({
    target: '(a) raw onnxruntime, batch 1',
    concurrency: null,
    requestsPerSecond: null,
    rowsPerSecond: rawSingle,
    p50Us: null,
    p99Us: null,
    failed: 0,
  });

  const predictPath = '/quiver.v1.PredictionService/Predict';
  const batchPath = '/quiver.v1.PredictionService/BatchPredict';

  process.stderr.write('(b) echo\n');
  let port = await freePort();
  let child = await start(['--import', 'tsx', 'benchmarks/servers/echo-server.ts', String(port)], /listening/);
  rows.push(
    ...(await measure('(b) grpc-js echo (transport ceiling)', `127.0.0.1:${port}`, predictPath, predictBody, 1, checkPredict(false))),
  );
  rows.push(
    ...(await measure(
      `(b) grpc-js echo, dense ${BATCH_ROWS}-row messages`,
      `127.0.0.1:${port}`,
      batchPath,
      batchBody,
      BATCH_ROWS,
      checkBatch,
    )),
  );
  await stop(child);

  process.stderr.write('(b2) naive\n');
  port = await freePort();
  child = await start(['--import', 'tsx', 'benchmarks/servers/naive-server.ts', String(port), modelPath], /listening/);
  rows.push(
    ...(await measure('(b2) naive grpc-js + inline onnxruntime', `127.0.0.1:${port}`, predictPath, predictBody, 1, checkPredict(true))),
  );
  await stop(child);

  const restBody = JSON.stringify({ features: Object.fromEntries(row.map((v, i) => [`feature_${i}`, v])) });
  const restRows = async (target: string, url: string): Promise<Row[]> => {
    const probe = await fetch(url, { method: 'POST', body: restBody, headers: { 'content-type': 'application/json' } });
    const answer = (await probe.json()) as { probabilities?: number[] };
    if (probe.status !== 200 || answer.probabilities?.[1] !== expectedP1)
      throw new Error(`${target}: wrong REST answer ${JSON.stringify(answer)}`);
    const out: Row[] = [];
    for (const c of CONCURRENCY) {
      const r = await runWrk({ url, body: restBody, concurrency: c, durationS: DURATION, workDir: work });
      out.push({
        target,
        concurrency: c,
        requestsPerSecond: r.requestsPerSecond,
        rowsPerSecond: r.requestsPerSecond,
        p50Us: r.p50Us,
        p99Us: r.p99Us,
        failed: r.failed,
      });
      process.stderr.write(`  ${target} c=${c}: ${Math.round(r.requestsPerSecond)} req/s, p50 ${r.p50Us} µs, p99 ${r.p99Us} µs\n`);
    }
    return out;
  };
  const wrk = await wrkVersion();
  if (wrk !== null) {
    process.stderr.write('(e) naive REST\n');
    const restPort = await freePort();
    child = await start(['--import', 'tsx', 'benchmarks/servers/naive-rest-server.ts', String(restPort), modelPath], /listening/);
    rows.push(...(await restRows('(e) naive Fastify REST + inline onnxruntime', `http://127.0.0.1:${restPort}/predict`)));
    await stop(child);
  } else {
    process.stderr.write('wrk not found (apt-get install wrk): skipping the REST rows\n');
  }

  process.stderr.write('(c, d, f) quiver\n');
  const startQuiver = async (
    extra: string[] = [],
    env: Record<string, string> = {},
  ): Promise<{ child: ChildProcess; port: number; httpPort: number }> => {
    const grpcPort = await freePort();
    const restPort = await freePort();
    const c = await start(
      [
        'dist/src/cli/bin.js',
        'serve',
        '--grpc-host',
        '127.0.0.1',
        '--grpc-port',
        String(grpcPort),
        '--model',
        `production-model=${modelPath}`,
        // The file-served demo model alone: the registry in ./var may hold another production-model.
        '--no-registry',
        '--no-metrics-server',
        '--http-host',
        '127.0.0.1',
        '--http-port',
        String(restPort),
        '--log-level',
        'info',
        ...extra,
      ],
      /quiver serving/,
      env,
    );
    return { child: c, port: grpcPort, httpPort: restPort };
  };
  const quiver = await startQuiver();
  child = quiver.child;
  port = quiver.port;
  const httpPort = quiver.httpPort;
  rows.push(...(await measure('(c) Quiver Predict', `127.0.0.1:${port}`, predictPath, predictBody, 1, checkPredict(true))));
  rows.push(
    ...(await measure(
      `(d) Quiver BatchPredict, dense ${BATCH_ROWS} rows`,
      `127.0.0.1:${port}`,
      batchPath,
      batchBody,
      BATCH_ROWS,
      checkBatch,
    )),
  );
  if (wrk !== null) rows.push(...(await restRows('(f) Quiver REST gateway /predict', `http://127.0.0.1:${httpPort}/predict`)));
  await stop(child);

  // Monitoring cost: metrics on (the default) vs off, and tracing on (OTLP to a local sink),
  // Predict at c=64. The runs alternate, three each, so drift in the machine's speed is shared.
  process.stderr.write('(g) monitoring cost\n');
  const sink = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;
  const variants: Array<{ target: string; extra: string[]; env: Record<string, string> }> = [
    { target: '(g) Quiver Predict, metrics on, tracing off (default)', extra: [], env: {} },
    { target: '(g) Quiver Predict, metrics off', extra: ['--no-metrics'], env: {} },
    {
      target: '(g) Quiver Predict, metrics on, tracing on (OTLP)',
      extra: [],
      env: { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl },
    },
  ];
  const runs = new Map<string, LoadResult[]>();
  for (let round = 0; round < 3; round++) {
    for (const v of variants) {
      const q = await startQuiver(v.extra, v.env);
      const probe = await verifyCall(`127.0.0.1:${q.port}`, predictPath, predictBody);
      if (probe.status !== 0) throw new Error(`${v.target}: grpc-status ${probe.status}: ${probe.details}`);
      const r = await runLoad({
        url: `http://127.0.0.1:${q.port}${predictPath}`,
        body: predictBody,
        concurrency: 64,
        durationS: DURATION,
        warmupS: WARMUP,
        workDir: work,
        responseBytes: probe.message.length + 5,
      });
      runs.set(v.target, [...(runs.get(v.target) ?? []), r]);
      process.stderr.write(`  ${v.target} round ${round + 1}: ${Math.round(r.requestsPerSecond)} req/s\n`);
      await stop(q.child);
    }
  }
  sink.close();
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  for (const v of variants) {
    const rs = runs.get(v.target) ?? [];
    rows.push({
      target: `${v.target} (mean of ${rs.length})`,
      concurrency: 64,
      requestsPerSecond: mean(rs.map((r) => r.requestsPerSecond)),
      rowsPerSecond: mean(rs.map((r) => r.requestsPerSecond)),
      p50Us: mean(rs.map((r) => r.p50Us)),
      p99Us: mean(rs.map((r) => r.p99Us)),
      failed: rs.reduce((a, r) => a + r.failed, 0),
    });
  }

  const at = (target: string, c: number): Row | undefined => rows.find((r) => r.target.startsWith(target) && r.concurrency === c);
  const echo64 = at('(b)', 64);
  const quiver64 = at('(c)', 64);
  const echo1 = at('(b)', 1);
  const quiver1 = at('(c)', 1);
  const naive64 = at('(b2)', 64);
  const naiveRest64 = at('(e)', 64);
  const metricsOn = rows.find((r) => r.target.startsWith('(g) Quiver Predict, metrics on, tracing off'));
  const metricsOff = rows.find((r) => r.target.startsWith('(g) Quiver Predict, metrics off'));
  const tracingOn = rows.find((r) => r.target.startsWith('(g) Quiver Predict, metrics on, tracing on'));
  const gateway64 = at('(f)', 64);
  const bestBatch = Math.max(...rows.filter((r) => r.target.startsWith('(d)')).map((r) => r.rowsPerSecond));
  const bestBatchEcho = Math.max(...rows.filter((r) => r.target.startsWith('(b) grpc-js echo, dense')).map((r) => r.rowsPerSecond));
  const ratio = (a: number | null | undefined, b: number | null | undefined): number => (a == null || b == null ? NaN : a / b);
  const targets = [
    {
      name: 'Predict req/s at c=64 vs echo',
      value: ratio(quiver64?.requestsPerSecond, echo64?.requestsPerSecond),
      goal: '>= 0.80',
      ok: (v: number) => v >= 0.8,
    },
    {
      name: 'naive server req/s at c=64 vs echo (for reference)',
      value: ratio(naive64?.requestsPerSecond, echo64?.requestsPerSecond),
      goal: '(about 0.67)',
      ok: () => true,
    },
    { name: 'Predict p50 at c=1 vs echo p50', value: ratio(quiver1?.p50Us, echo1?.p50Us), goal: '<= 1.50', ok: (v: number) => v <= 1.5 },
    {
      name: `BatchPredict rows/s (best c) vs raw onnxruntime batch ${BATCH_ROWS}`,
      value: ratio(bestBatch, rawBatch),
      goal: '>= 0.30',
      ok: (v: number) => v >= 0.3,
    },
    {
      name: `echo of the same ${BATCH_ROWS}-row messages vs raw onnxruntime (the transport's own ceiling, for reference)`,
      value: ratio(bestBatchEcho, rawBatch),
      goal: '',
      ok: () => true,
    },
    { name: 'BatchPredict rows/s vs that echo (best c each)', value: ratio(bestBatch, bestBatchEcho), goal: '', ok: () => true },
    {
      name: 'Predict req/s at c=64, metrics on vs off (their cost)',
      value: ratio(metricsOn?.requestsPerSecond, metricsOff?.requestsPerSecond),
      goal: '>= 0.95',
      ok: (v: number) => v >= 0.95,
    },
    {
      name: 'Predict req/s at c=64, tracing on vs off (for reference)',
      value: ratio(tracingOn?.requestsPerSecond, metricsOn?.requestsPerSecond),
      goal: '',
      ok: () => true,
    },
    {
      name: 'REST gateway req/s at c=64 vs the naive REST server',
      value: ratio(gateway64?.requestsPerSecond, naiveRest64?.requestsPerSecond),
      goal: '>= 1.00',
      ok: (v: number) => v >= 1,
    },
    {
      name: 'REST gateway p99 at c=64 vs the naive REST server (lower is better)',
      value: ratio(gateway64?.p99Us, naiveRest64?.p99Us),
      goal: '<= 1.00',
      ok: (v: number) => v <= 1,
    },
  ];

  const fmt = (v: number | null, digits = 0): string =>
    v === null || Number.isNaN(v) ? '' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const lines = [
    `# Quiver benchmark, ${new Date().toISOString()}`,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (${machine.hostname}). Node ${machine.node}. ${h2load}. Commit ${machine.commit}.`,
    `Packages: ${Object.entries(machine.packages)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Load: gRPC rows with h2load (1 connection, c concurrent streams, ${DURATION}s after ${WARMUP}s warm-up); REST rows with ${wrk ?? 'wrk (missing)'} (c connections, ${DURATION}s). The load generator shares the machine's cores with the server.`,
    '',
    '| target | c | req/s | rows/s | p50 µs | p99 µs | failed |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.target} | ${r.concurrency ?? ''} | ${fmt(r.requestsPerSecond)} | ${fmt(r.rowsPerSecond)} | ${fmt(r.p50Us)} | ${fmt(r.p99Us)} | ${r.failed} |`,
    ),
    '',
    '| target ratio | measured | goal | |',
    '|---|---:|---|---|',
    ...targets.map((t) => `| ${t.name} | ${fmt(t.value, 2)} | ${t.goal} | ${t.goal === '' ? '' : t.ok(t.value) ? 'met' : 'MISSED'} |`),
    '',
  ];
  writeResults(ROOT, new Date(), '', lines.join('\n'), {
    date: new Date().toISOString(),
    machine,
    h2load,
    durationS: DURATION,
    warmupS: WARMUP,
    rows,
    targets: targets.map((t) => ({ name: t.name, value: t.value, goal: t.goal, met: t.ok(t.value) })),
  });
}

await main();
