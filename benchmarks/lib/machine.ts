/** What a benchmark result must record: the machine, Node and the package versions. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, hostname, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';

const PACKAGES = ['@grpc/grpc-js', 'onnxruntime-node', 'piscina', '@bufbuild/protobuf', 'ts-proto'];

export interface MachineInfo {
  readonly hostname: string;
  readonly os: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly packages: Readonly<Record<string, string>>;
  readonly commit: string;
}

export function machineInfo(root: string): MachineInfo {
  const lock = JSON.parse(readFileSync(`${root}/package-lock.json`, 'utf8')) as { packages: Record<string, { version?: string }> };
  const packages: Record<string, string> = {};
  for (const p of PACKAGES) packages[p] = lock.packages[`node_modules/${p}`]?.version ?? 'missing';
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
    // A run on uncommitted changes says so: a result cites the code it measured.
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root }).toString().trim() !== '';
    if (dirty) commit += '-dirty';
  } catch {
    // not a git checkout
  }
  return {
    hostname: hostname(),
    os: `${platform()} ${release()} ${arch()}`,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    packages,
    commit,
  };
}

/**
 * Prints the Markdown table and writes it to benchmarks/results/<stamp><suffix>.md (the
 * readable summary, committed when the docs cite the run) and the JSON record to
 * benchmarks/results/raw/<stamp><suffix>.json (the raw dump, ignored by git).
 */
export function writeResults(root: string, date: Date, suffix: string, table: string, record: object): void {
  process.stdout.write(table + '\n');
  const dir = join(root, 'benchmarks/results');
  mkdirSync(dir, { recursive: true });
  const stamp = date.toISOString().replace(/[:.]/g, '-');
  mkdirSync(join(dir, 'raw'), { recursive: true });
  writeFileSync(join(dir, `${stamp}${suffix}.md`), table);
  writeFileSync(join(dir, 'raw', `${stamp}${suffix}.json`), JSON.stringify(record, null, 2));
  process.stderr.write(`written to benchmarks/results/${stamp}${suffix}.md and benchmarks/results/raw/${stamp}${suffix}.json\n`);
}
