/**
 * What the open-loop sections share, (i) overload and (j) SLO batching: a short
 * `npm run bench:overload` setup (its options, its parts) around one Quiver server started from
 * a snapshot of dist/ (lib/quiver-process.ts), and that server's capacity: answered OK per
 * second in a closed loop of CAPACITY_CONCURRENCY calls from the Node generators.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { verifyCall } from '../lib/h2load.js';
import { type Histogram, newHistogram } from '../lib/open-loop.js';
import { quiverBuild, type ServerProcess, startQuiver, stopQuiver } from '../lib/quiver-process.js';
import { generate } from '../overload/generators.js';
import type { OverloadOptions } from '../overload/options.js';
import { body, PATH } from '../overload/request.js';
import { DURATION, WARMUP } from './options.js';
import type { Bench } from './targets.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const CAPACITY_CONCURRENCY = 64;
/** Each open-loop run's measured seconds: short, to keep `npm run bench` short. */
export const OPEN_LOOP_DURATION_S = Math.min(8, DURATION);

/** bench:overload's defaults, shortened, for the given multiples of capacity and model (hidden 0: the demo model). */
export const shortOverloadOptions = (multipliers: number[], hidden: number, modelText: string): OverloadOptions => ({
  durationS: OPEN_LOOP_DURATION_S,
  warmupS: WARMUP,
  deadlineMs: 1000,
  multipliers,
  generators: 2,
  connections: 4,
  capacityConcurrency: CAPACITY_CONCURRENCY,
  capacity: undefined,
  serverArgs: [],
  bulk: 'h2load',
  bulkAbove: 1,
  probeRate: 500,
  bulkRatePerConnection: 500,
  source: false,
  label: '',
  hidden,
  modelText,
});

/** A running server, its gRPC address, and the size of one answer on the wire (for h2load's bulk). */
export interface Served {
  readonly server: ServerProcess;
  readonly address: string;
  readonly responseBytes: number;
}

/**
 * Starts Quiver serving `modelPath` as production-model (no registry, no metrics port, `args`
 * added), checks one call, runs `use`, then stops the server and removes its files.
 */
export async function withQuiver<T>(
  bench: Bench,
  tag: string,
  modelPath: string,
  args: string[],
  use: (s: Served) => Promise<T>,
): Promise<T> {
  const build = quiverBuild(ROOT, false);
  const dataDir = join(bench.work, `data-${tag.replace(/\W+/g, '-')}`);
  const server = await startQuiver(build, [
    ...['--grpc-host', '127.0.0.1', '--grpc-port', '0', '--http-host', '127.0.0.1', '--http-port', '0'],
    ...['--model', `production-model=${modelPath}`, '--no-registry', '--no-metrics-server', '--data-dir', dataDir],
    ...args,
  ]);
  const address = `127.0.0.1:${server.grpcPort}`;
  try {
    const probe = await verifyCall(address, PATH, body);
    if (probe.status !== 0) throw new Error(`${tag}: grpc-status ${probe.status}: ${probe.details}`);
    return await use({ server, address, responseBytes: probe.message.length + 5 });
  } finally {
    await stopQuiver(server);
    rmSync(dataDir, { recursive: true, force: true });
    build.cleanup();
  }
}

/** The closed-loop capacity: answered OK per second, the OK calls' latency, and the calls not answered OK. */
export async function closedLoopCapacity(
  o: OverloadOptions,
  address: string,
): Promise<{ rate: number; okLatency: Histogram; failed: number }> {
  const closed = await generate(o, 'closed', address, 0, CAPACITY_CONCURRENCY, o.durationS, o.warmupS);
  const ok = closed.byStatus.OK ?? 0;
  return {
    rate: Math.round(ok / o.durationS),
    okLatency: closed.latency.OK ?? newHistogram(),
    failed: Object.values(closed.byStatus).reduce((a, n) => a + n, 0) - ok,
  };
}

/** A latency in ms (or null) in µs, as rows hold them. */
export const usFromMs = (v: number | null): number | null => (v === null ? null : v * 1000);
