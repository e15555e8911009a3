/**
 * What `npm start` does on an empty data directory, the blueprint's setup in one step:
 * generate the sample training data, train, register with lineage and promote
 * `production-model` to Production. Later starts serve whatever the registry says.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { Logger } from 'pino';

import { generateDataset, writeCsv } from '../../training/data/generate.js';
import { trainModel } from '../../training/train.js';
import { DEMO_MODEL_NAME } from '../onnx/demo-model.js';
import { registerTraining } from './register-training.js';
import type { Registry } from './registry.js';

export const SAMPLE_DATA = 'sample_training_data.csv';

/**
 * Trains, registers and promotes the demo model unless the registry has a model by that name.
 * Replicas sharing a PostgreSQL registry may all start at once: the check and the seeding run
 * under a registry-wide lock, so exactly one of them seeds.
 */
export async function seedDemo(registry: Registry, dataDir: string, log: Logger): Promise<void> {
  const store = registry.store;
  const seed = (): Promise<void> => seedUnlocked(registry, dataDir, log);
  await (store.exclusive === undefined ? seed() : store.exclusive('seed-demo', seed));
}

async function seedUnlocked(registry: Registry, dataDir: string, log: Logger): Promise<void> {
  if ((await registry.store.getModel(DEMO_MODEL_NAME)) !== undefined) return;
  const dir = join(dataDir, 'data');
  await mkdir(dir, { recursive: true });
  const dataPath = join(dir, SAMPLE_DATA);
  writeCsv(dataPath, generateDataset({ rows: 1000, seed: 42 }));
  const result = await trainModel({ dataPath, algorithm: 'logistic', seed: 42 });
  const v = await registerTraining(registry, DEMO_MODEL_NAME, result, {
    experimentName: DEMO_MODEL_NAME,
    datasetName: SAMPLE_DATA,
    description: 'Logistic regression on the blueprint sample data (feature_0 + feature_1 + 0.5 * feature_2 > 0)',
    actor: 'quiver',
  });
  await registry.transitionStage(DEMO_MODEL_NAME, v.version, 'Production', true, 'Initial production deployment', 'quiver');
  log.info(
    { model: DEMO_MODEL_NAME, version: v.version, accuracy: result.metrics.accuracy, data: dataPath },
    'trained, registered and promoted the demo model',
  );
}
