/** What `npm start` puts in an empty registry: the demo model, registered and promoted. */
import type { Logger } from 'pino';

import { Lineage } from '../gen/quiver/v1/registry.js';
import { buildDemoModel, DEMO_MODEL_NAME } from '../onnx/demo-model.js';
import type { Registry } from './registry.js';

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Registers and promotes the demo model unless the registry has a model by that name. */
export async function seedDemo(registry: Registry, log: Logger): Promise<void> {
  if ((await registry.store.getModel(DEMO_MODEL_NAME)) !== undefined) return;
  const v = await registry.createVersion(
    {
      modelName: DEMO_MODEL_NAME,
      description: 'Demo: logistic regression for feature_0 + feature_1 + 0.5 * feature_2 > 0',
      tags: { source: 'quiver-demo' },
      lineage: Lineage.fromPartial({ algorithm: 'logistic', codeVersion: 'demo' }),
      expectedSha256: '',
    },
    once(buildDemoModel()),
    'quiver',
  );
  await registry.transitionStage(DEMO_MODEL_NAME, v.version, 'Production', true, undefined, 'quiver');
  log.info({ model: DEMO_MODEL_NAME, version: v.version }, 'registered and promoted the demo model');
}
