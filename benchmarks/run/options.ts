/** The throughput benchmark's options (environment variables; benchmarks/run.ts lists them) and its fixed sizes. */
export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
export const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);
/** Rows per BatchPredict call (dense), and features per row of the demo model. */
export const BATCH_ROWS = 256;
export const FEATURES = 10;
