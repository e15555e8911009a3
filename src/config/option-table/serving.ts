/** The serving process: its gRPC listener, what it serves, workers and batching, queue limits, gRPC transport limits, shutdown and logs. */
import { availableParallelism } from 'node:os';

import { MiB, type OptionDef, type Options } from '../option-schema.js';

const cores = (): number => availableParallelism();
/** Each process's share of the cores (with `processes` > 1, the processes split them evenly). */
const coresPerProcess = (p: Partial<Record<keyof Options, unknown>>): number => Math.max(1, Math.floor(cores() / Number(p.processes ?? 1)));

export const SERVING_OPTIONS: readonly OptionDef[] = [
  { key: 'grpcHost', kind: 'string', default: () => '0.0.0.0', doc: 'address the gRPC server binds' },
  { key: 'grpcPort', kind: 'port', default: () => 50051, doc: 'gRPC port (0 picks a free port)' },
  { key: 'httpPort', kind: 'port', default: () => 8080, doc: "REST gateway port, the inference plane's (0 picks a free port)" },
  {
    key: 'dataDir',
    kind: 'path',
    default: () => './var',
    doc: 'data directory: the embedded registry (SQLite and artifacts), the demo data, verified copies of loaded artifacts',
  },
  {
    key: 'models',
    kind: 'models',
    default: () => [],
    doc: 'ONNX files to serve, `name=path.onnx` or `name:version=path.onnx`, comma-separated in the environment, repeatable as a flag',
  },
  {
    key: 'modelRepository',
    kind: 'path',
    default: () => '',
    doc: 'a Triton-style model directory `<dir>/<name>/<version>/model.onnx`, all versions served',
  },
  {
    key: 'demo',
    kind: 'bool',
    default: () => false,
    doc: 'write the demo model into the data dir if absent and serve it as `production-model`',
  },
  {
    key: 'processes',
    kind: 'int',
    min: 1,
    max: 256,
    default: () => 1,
    doc: 'server processes sharing the ports (Node cluster), each with its own event loop, worker pool and queues; 1 = this process serves alone',
  },
  {
    key: 'workers',
    kind: 'int',
    min: 1,
    max: 256,
    default: (p) => Math.max(1, coresPerProcess(p) - 1),
    doc: "inference worker threads per process (default: the process's share of the cores - 1, its main thread keeps one core for gRPC)",
  },
  {
    key: 'intraOpThreads',
    kind: 'int',
    min: 1,
    max: 256,
    default: (p) => Math.max(1, Math.floor((coresPerProcess(p) - 1) / Number(p.workers ?? 1))),
    doc: 'onnxruntime intra-op threads per session (default: the cores left to each worker, at least 1, so workers do not oversubscribe the CPU)',
  },
  {
    key: 'tasksPerWorker',
    kind: 'int',
    min: 1,
    max: 16,
    default: () => 4,
    doc: 'batches queued at each worker at once; more than 1 overlaps message passing with inference',
  },
  {
    key: 'inlineMaxUs',
    kind: 'int',
    min: 0,
    max: 10_000,
    default: () => 250,
    unit: 'µs',
    doc: 'models whose single-row run takes at most this long may answer a lone request on the main thread when every worker is idle (the inline lane); 0 = always use the workers',
  },
  {
    key: 'maxBatchRows',
    kind: 'int',
    min: 1,
    max: 1 << 20,
    default: () => 256,
    unit: 'rows',
    doc: 'the most rows the batcher merges into one inference',
  },
  {
    key: 'maxQueueDelayUs',
    kind: 'int',
    min: 0,
    max: 10_000_000,
    default: () => 0,
    unit: 'µs',
    doc: 'how long a partial batch may wait for more rows when a worker is free; 0 sends at once (batches still form while workers are busy)',
  },
  {
    key: 'maxQueueRows',
    kind: 'int',
    min: 1,
    max: 1 << 24,
    default: () => 8192,
    unit: 'rows',
    doc: 'rows waiting per model version before requests are shed with RESOURCE_EXHAUSTED',
  },
  {
    key: 'maxQueueWaitMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    default: () => 1000,
    unit: 'ms',
    doc: 'the longest a request may wait in a model version queue: one that waited longer is shed with RESOURCE_EXHAUSTED instead of run (0 = no limit; deadlines still apply)',
  },
  {
    key: 'queueTargetMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    default: () => 100,
    unit: 'ms',
    doc: "while requests leave a model version's queue after waiting longer than this (or one batch run time, if longer; at most half of maxQueueWaitMs), the queue stands and new requests are shed at once with RESOURCE_EXHAUSTED (0 = only maxQueueWaitMs)",
  },
  {
    key: 'maxInflight',
    kind: 'int',
    min: 0,
    max: 1 << 24,
    // The rows one model version can hold, its queue bound plus full batches at every worker
    // (maxQueueRows + workers x tasksPerWorker x maxBatchRows), a call having at least one row:
    // the cap does not refuse what one model's own bounds would take, nor bite at normal load
    // (throughput x latency is far less); it bounds the sum over many models and both
    // transports, and refuses the excess before its message is decoded. At least 1024 (ten
    // connections' worth of streams at once): a slow model's small queue bound must not make
    // the whole server's cap small, as the cap counts a burst's calls before any is queued.
    default: (p) =>
      Math.max(
        1024,
        Number(p.maxQueueRows ?? 8192) + Number(p.workers ?? 1) * Number(p.tasksPerWorker ?? 4) * Number(p.maxBatchRows ?? 256),
      ),
    unit: 'calls',
    doc: 'predict calls (Predict, BatchPredict, ModelInfer and their REST routes) handled at once over every model; one more is refused at once with RESOURCE_EXHAUSTED / HTTP 429 and the retry pushback, before its message is read (default: maxQueueRows + workers x tasksPerWorker x maxBatchRows, what one model version can hold, at least 1024; 0 = no cap)',
  },
  {
    key: 'latencyTargetMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    default: () => 0,
    unit: 'ms',
    doc: "a latency objective at p99 for every model version (0 = none: batches take up to maxBatchRows and wait maxQueueDelayUs). With one, the batcher learns how run time grows with batch rows and chooses each version's batch size and wait so queued requests meet it, and refuses at once, with RESOURCE_EXHAUSTED, the requests that would be late (quiver_batch_target_rows, quiver_batch_delay_seconds)",
  },
  {
    key: 'latencyTargets',
    kind: 'string',
    default: () => '',
    doc: 'latency objectives per model, `name=ms` entries separated by commas (e.g. `fraud=20,ranker=150`); a model named here uses its own instead of latencyTargetMs, and `name=0` turns it off for that model',
  },
  {
    key: 'maxRequestRows',
    kind: 'int',
    min: 1,
    max: 1 << 24,
    default: () => 8192,
    unit: 'rows',
    doc: 'the most rows (instances) one request may carry',
  },
  {
    key: 'retryPushbackMs',
    kind: 'int',
    min: 0,
    max: 60_000,
    default: () => 50,
    unit: 'ms',
    doc: 'the `grpc-retry-pushback-ms` sent with RESOURCE_EXHAUSTED',
  },
  { key: 'rejectNonFinite', kind: 'bool', default: () => true, doc: 'reject NaN and ±Infinity inputs with INVALID_ARGUMENT' },
  {
    key: 'maxReceiveMessageBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 31 - 1,
    default: () => 16 * MiB,
    unit: 'bytes',
    doc: 'largest request message (grpc-js defaults to 4 MiB, too small for big batches)',
  },
  {
    key: 'maxSendMessageBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 31 - 1,
    default: () => 16 * MiB,
    unit: 'bytes',
    doc: 'largest response message',
  },
  {
    key: 'maxConcurrentStreams',
    kind: 'int',
    min: 1,
    max: 2 ** 31 - 1,
    // RFC 9113 asks for at least 100. More lets one connection queue work inside the server
    // faster than its main thread can answer (benchmarks/overload.ts): with 100, excess calls
    // wait in the clients, which stay within their deadlines instead of timing out in here.
    default: () => 100,
    doc: 'HTTP/2 streams at once per connection; further calls wait in the client (grpc-js has no limit by default)',
  },
  {
    key: 'keepaliveTimeMs',
    kind: 'int',
    min: 1000,
    max: 2 ** 31 - 1,
    default: () => 60_000,
    unit: 'ms',
    doc: 'server keepalive ping interval',
  },
  {
    key: 'keepaliveTimeoutMs',
    kind: 'int',
    min: 100,
    max: 2 ** 31 - 1,
    default: () => 20_000,
    unit: 'ms',
    doc: 'how long a keepalive ping may go unanswered before the connection closes',
  },
  {
    key: 'maxConnectionAgeMs',
    kind: 'int',
    min: 0,
    max: 2 ** 31 - 1,
    default: () => 0,
    unit: 'ms',
    doc: 'close connections after this age so clients rebalance across replicas; 0 = never',
  },
  {
    key: 'maxConnectionAgeGraceMs',
    kind: 'int',
    min: 0,
    max: 2 ** 31 - 1,
    default: () => 30_000,
    unit: 'ms',
    doc: 'time calls get to finish on a connection closed for age',
  },
  {
    key: 'shutdownGraceMs',
    kind: 'int',
    min: 0,
    max: 600_000,
    default: () => 10_000,
    unit: 'ms',
    doc: 'on SIGTERM/SIGINT, how long in-flight calls get to finish before the server closes them',
  },
  {
    key: 'logLevel',
    kind: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: () => 'info',
    doc: 'pino log level',
  },
];
