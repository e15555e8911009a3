/**
 * A process that writes to a registry as fast as it can, printing a line for each write
 * once it is acknowledged (the call returned). The crash test kills it with SIGKILL at
 * random moments and checks that every acknowledged write survived.
 * Usage: registry-writer.ts DATA_DIR SEED
 */
import { Lineage } from '../../src/gen/quiver/v1/registry.js';
import { buildOnnxModel } from '../../src/onnx/builder.js';
import { Registry } from '../../src/registry/registry.js';

const [dataDir, seedText] = process.argv.slice(2) as [string, string];
let seed = Number(seedText);

function model(scale: number): Uint8Array {
  return buildOnnxModel({
    inputs: [{ name: 'features', dtype: 'float32', dims: ['N', 4] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 4] }],
    initializers: [{ name: 's', dtype: 'float32', dims: [1], values: [scale] }],
    nodes: [{ opType: 'Mul', inputs: ['features', 's'], outputs: ['y'] }],
  });
}

async function* chunks(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 97) yield bytes.subarray(i, i + 97);
}

const registry = await Registry.open({ dataDir, maxUploadBytes: 1 << 20 });
for (;;) {
  seed++;
  const name = `m${seed % 3}`;
  const v = await registry.createVersion(
    { modelName: name, description: '', tags: {}, lineage: Lineage.fromPartial({}), expectedSha256: '' },
    chunks(model(seed)),
    'writer',
  );
  process.stdout.write(`upload ${name} ${v.version} ${v.sha256}\n`);
  await registry.transitionStage(name, v.version, 'Production', true, undefined, 'writer');
  process.stdout.write(`promote ${name} ${v.version}\n`);
}
