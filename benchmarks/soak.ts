/**
 * `npm run bench:soak`: memory over time. A Quiver server (compiled, from a snapshot of dist/;
 * see lib/quiver-process.ts) runs alone in a child process with the embedded registry in a
 * temp data directory, under steady gRPC Predict traffic from a
 * second process (benchmarks/lib/soak-load.ts), while this script reads the server's RSS from
 * /proc/<pid>/status and /proc/<pid>/smaps_rollup (and its V8 heap from /metrics):
 *
 *   A  promote: `cycles` promote/reload cycles alternating between two versions with
 *      different artifacts (MLPs with megabytes of weights; `quiver promote` from another
 *      process, as an operator would; the server follows the registry, loads and warms the
 *      new version, drains and releases the old one's onnxruntime sessions). RSS after each.
 *   B  soak: `minutes` at the same steady load on the same server, RSS every `sample` s.
 *   C  control: a fresh server, the same warm-up and the same number of cycles of the same
 *      length under the same load, each running a read-only CLI command instead of a
 *      promotion: what RSS does without session churn (the baseline for A's slope).
 *
 * Every call's grpc-status is checked; a run with a failed request exits non-zero. Writes
 * Markdown to benchmarks/results/<stamp>-soak.md (and the raw JSON under benchmarks/results/raw/).
 *
 * Options: --minutes 10 --cycles 50 --rate 400 (req/s) --in-flight 32 --warmup 30 (s)
 *          --cycle-seconds 5 --sample 10 (s) --hidden 1024,768 --workers N --no-control
 *          --label TEXT (a note in the report) --server-env K=V (repeatable; extra server env)
 *          --source (run src/ under tsx instead of dist/)
 *
 * The steps are here; the parts under soak/: options.ts, models.ts (the MLP versions in the
 * registry), server.ts (the server), load.ts (the load process), memory.ts (the samples),
 * run-server.ts (one server's run: cycles.ts, then soak-phase.ts; records.ts holds what it
 * records), slopes.ts and summary.ts (a run summed up), report.ts (the results).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { machineInfo } from './lib/machine.js';
import { type QuiverBuild, quiverBuild } from './lib/quiver-process.js';
import { type Artifact, registerModels } from './soak/models.js';
import { parseSoakOptions, type SoakOptions } from './soak/options.js';
import type { RunResult } from './soak/records.js';
import { writeSoakResults } from './soak/report.js';
import { runServer } from './soak/run-server.js';
import { summarize } from './soak/summary.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const options: SoakOptions = parseSoakOptions();
// The server and the CLI run from a snapshot of dist/ (or src/ under tsx with --source).
const build: QuiverBuild = quiverBuild(ROOT, options.source);

/** The models registered, the promote run, then (unless --no-control) the control on the version it left serving. */
async function runAll(work: string): Promise<{ artifacts: Artifact[]; runs: RunResult[] }> {
  const dataDir = join(work, 'data');
  const runs: RunResult[] = [];
  const artifacts = await registerModels(build, options.hidden, work, dataDir);
  const promote = await runServer(options, build, {
    name: 'promote',
    dataDir,
    promotions: true,
    soakMinutes: options.minutes,
    firstVersion: 1,
  });
  runs.push(promote);
  if (!options.noControl) {
    const serving = promote.cycles.at(-1)?.version ?? 1;
    runs.push(await runServer(options, build, { name: 'control', dataDir, promotions: false, soakMinutes: 0, firstVersion: serving }));
  }
  return { artifacts, runs };
}

async function main(): Promise<void> {
  const machine = machineInfo(ROOT);
  process.stderr.write(
    `soak: ${machine.cpuModel}, ${machine.cores} cores, node ${machine.node}; ${options.cycles} cycles, ${options.minutes} min soak, ${options.rate} req/s\n`,
  );
  const work = mkdtempSync(join(tmpdir(), 'quiver-soak-'));
  let artifacts: Artifact[];
  let runs: RunResult[];
  try {
    ({ artifacts, runs } = await runAll(work));
  } finally {
    rmSync(work, { recursive: true, force: true });
    build.cleanup();
  }

  const summaries = runs.map(summarize);
  const failed = summaries.reduce((a, s) => a + s.requestsFailed, 0);
  writeSoakResults(ROOT, { options, machine, buildDescription: build.description, artifacts, runs, summaries });
  if (failed > 0) {
    process.stderr.write(`${failed} requests failed\n`);
    process.exitCode = 1;
  }
}

await main();
