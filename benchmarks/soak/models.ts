/**
 * The models the runs serve: one MLP per --hidden size (lib/mlp-model.ts), uploaded to the
 * embedded registry in the data directory as versions 1, 2, ... of the soak model, version 1
 * promoted to Production.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildMlpModel, mlpWeightBytes } from '../lib/mlp-model.js';
import { type QuiverBuild, quiverCli } from '../lib/quiver-process.js';
import { MODEL } from './options.js';

export interface Artifact {
  readonly version: number;
  readonly hidden: number;
  readonly path: string;
  readonly bytes: number;
  readonly weightBytes: number;
}

/** Writes the models into `work` and registers them in `dataDir`; returns them, version by version. */
export async function registerModels(build: QuiverBuild, hidden: readonly number[], work: string, dataDir: string): Promise<Artifact[]> {
  const artifacts = hidden.map((h, i) => {
    const path = join(work, `mlp-${h}-${i + 1}.onnx`);
    const bytes = buildMlpModel(h, i + 1);
    writeFileSync(path, bytes);
    return { version: i + 1, hidden: h, path, bytes: bytes.byteLength, weightBytes: mlpWeightBytes(h) };
  });
  for (const a of artifacts) {
    await quiverCli(build, [
      'registry',
      'upload',
      '--data-dir',
      dataDir,
      '--model-name',
      MODEL,
      '--file',
      a.path,
      '--description',
      `MLP hidden ${a.hidden}`,
    ]);
  }
  await quiverCli(build, ['promote', '--data-dir', dataDir, '--model-name', MODEL, '--version', '1', '--stage', 'Production']);
  return artifacts;
}
