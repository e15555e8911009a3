/** The model files a server serves without the registry: `--model` options and a Triton-style model repository. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { Logger } from 'pino';

import { isModelName, MODEL_NAME_PATTERN } from '../core/model-name.js';

export interface ModelSource {
  readonly name: string;
  readonly version: number;
  readonly path: string;
}

/** Lists `<dir>/<name>/<version>/model.onnx`, Triton's model repository layout. */
export async function scanModelRepository(dir: string, log: Logger): Promise<ModelSource[]> {
  const found: ModelSource[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const modelDir = join(dir, name);
    if (!(await stat(modelDir)).isDirectory()) continue;
    if (!isModelName(name)) {
      log.warn({ dir: modelDir }, `skipping '${name}': model names must match ${MODEL_NAME_PATTERN.source}`);
      continue;
    }
    for (const version of await readdir(modelDir)) {
      if (!/^[1-9][0-9]{0,8}$/.test(version)) continue;
      const path = join(modelDir, version, 'model.onnx');
      try {
        if ((await stat(path)).isFile()) found.push({ name, version: Number(version), path });
      } catch {
        log.warn({ path }, 'skipping a version directory without model.onnx');
      }
    }
  }
  return found;
}
