/**
 * The demo model (`--demo`), served as `production-model`. With a registry it is trained,
 * registered and promoted there (registry/seed.ts, what `npm start` does on an empty data
 * directory); without one, the built-in ONNX model (onnx/demo-model.ts) is written into the
 * data directory and served as a file.
 */
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Logger } from 'pino';

import { buildDemoModel, DEMO_MODEL_NAME } from '../onnx/demo-model.js';
import type { Registry } from '../registry/registry.js';
import { seedDemo } from '../registry/seed.js';
import type { ModelSource } from './model-repository.js';

/** Writes the demo model into the data directory unless it is there already. */
export async function ensureDemoModel(dataDir: string): Promise<ModelSource> {
  const dir = join(dataDir, 'demo', DEMO_MODEL_NAME, '1');
  const path = join(dir, 'model.onnx');
  try {
    await stat(path);
  } catch {
    await mkdir(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, buildDemoModel());
    await rename(tmp, path);
  }
  return { name: DEMO_MODEL_NAME, version: 1, path };
}

/**
 * Provides the demo model unless `sources` already serve a model by its name: seeded into the
 * registry (undefined is returned: the registry's follower serves it), or the file to serve.
 */
export async function provideDemo(
  sources: readonly ModelSource[],
  registry: Registry | undefined,
  dataDir: string,
  log: Logger,
): Promise<ModelSource | undefined> {
  if (sources.some((s) => s.name === DEMO_MODEL_NAME)) return undefined;
  if (registry !== undefined) {
    await seedDemo(registry, dataDir, log);
    return undefined;
  }
  return ensureDemoModel(dataDir);
}
