/** The generated (ts-proto) codec of each message type, by its protobuf full name. */
import * as prediction from '../src/gen/quiver/v1/prediction.js';
import * as registry from '../src/gen/quiver/v1/registry.js';
import * as tensor from '../src/gen/quiver/v1/tensor.js';

export interface MessageCodec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(bytes: Uint8Array): unknown;
  fromJSON(json: unknown): unknown;
  toJSON(message: unknown): unknown;
}

const MODULES: Record<string, Record<string, unknown>> = {
  'quiver.v1': { ...tensor, ...prediction, ...registry },
};

/** `.quiver.v1.Outer.Inner` -> the export `Outer_Inner` of the quiver.v1 modules. */
export function codecOf(fullName: string): MessageCodec {
  const name = fullName.replace(/^\./, '');
  for (const [pkg, exports] of Object.entries(MODULES)) {
    if (!name.startsWith(`${pkg}.`)) continue;
    const codec = exports[name.slice(pkg.length + 1).replace(/\./g, '_')];
    if (codec !== undefined) return codec as MessageCodec;
  }
  throw new Error(`no generated codec for ${name}`);
}
