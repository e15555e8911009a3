/** The throughput benchmark's options (environment variables; benchmarks/run.ts lists them) and its fixed sizes. */
export const DURATION = Number(process.env.BENCH_DURATION ?? 10);
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
export const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);

/** The table's sections, in the order they run; BENCH_SECTIONS picks some (the ratios of the others say "not measured"). */
export const SECTIONS = ['baseline', 'mlp', 'overload', 'monitoring', 'slo', 'feedback'] as const;
export type Section = (typeof SECTIONS)[number];
const chosen = (process.env.BENCH_SECTIONS ?? SECTIONS.join(',')).split(',').map((s) => s.trim());
for (const s of chosen)
  if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`BENCH_SECTIONS: unknown section ${s} (${SECTIONS.join(', ')})`);
export const runs = (section: Section): boolean => chosen.includes(section);

/** Rows per BatchPredict call (dense), and features per row of the demo model. */
export const BATCH_ROWS = 256;
export const FEATURES = 10;
/**
 * The large dense BatchPredict message, and the concurrencies it runs at: a few calls of
 * 4,096 rows already fill the server's default queue bound (maxQueueRows 8,192), so more
 * outstanding calls would only measure refusals.
 */
export const BIG_BATCH_ROWS = 4096;
export const BIG_BATCH_CONCURRENCY = [1, 2, 4];
/** The width of the inference-bound MLP (10-N-N-2, lib/mlp-model.ts) of rows (h) and (i). */
export const MLP_HIDDEN = 4096;
