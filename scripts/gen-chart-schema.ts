/**
 * Generates the `config` part of charts/quiver/values.schema.json from the options table
 * (src/config/options.ts, OPTION_DEFS): one property per server option with its type, bounds
 * and doc, `additionalProperties: false` (a misspelt option fails the render instead of
 * becoming an ignored QUIVER_* variable), and the options the chart sets itself (ports, bind
 * hosts, the data directory, the registry URL, tokens, TLS) refused with the value to use
 * instead. Run `npm run gen:chart-schema` after changing the options table; a test fails when
 * the committed schema is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { format, resolveConfig } from 'prettier';

import { type OptionDef, OPTION_DEFS } from '../src/config/options.js';
import { PACKAGE_ROOT } from '../src/paths.js';

export const SCHEMA_PATH = join(PACKAGE_ROOT, 'charts', 'quiver', 'values.schema.json');

/**
 * Options the chart sets itself, by config key, with what sets them. They are refused in
 * `config` (the templates' quiver.reservedEnv refuses their QUIVER_* names in extraEnv).
 */
export const RESERVED: Readonly<Record<string, string>> = {
  grpcHost: 'the chart binds gRPC to 0.0.0.0, where the probes and the Service reach it',
  httpHost: 'the chart binds REST to 0.0.0.0, where the Service reaches it',
  metricsHost: 'the chart binds the metrics port to 0.0.0.0, where Prometheus reaches it',
  registryHost: 'the chart sets it from registry.listen (0.0.0.0 only with auth.enabled or registry.insecure)',
  grpcPort: 'the chart sets it from ports.grpc',
  httpPort: 'the chart sets it from ports.http',
  metricsPort: 'the chart sets it from ports.metrics',
  registryPort: 'the chart sets it from ports.registry',
  registryHttpPort: 'the chart sets it from ports.registryHttp',
  dataDir: 'the chart sets it from persistence.mountPath',
  registryUrl: 'the chart sets it from registry.backend and registry.postgres.existingSecret',
  insecureRegistry: 'the chart sets it from registry.insecure',
  authTokens: 'tokens never go in values: put them in a Secret and set auth.enabled and auth.existingSecret',
  authTokensFile: 'the chart sets it from auth.existingSecret, mounted read-only',
  authInference: 'the chart sets it from auth.inference',
  tlsCert: 'the chart sets it from tls.existingSecret',
  tlsKey: 'the chart sets it from tls.existingSecret',
  tlsClientCa: 'the chart sets it from tls.clientCa',
  tlsClientAuth: 'the chart sets it from tls.clientAuth',
};

/** Constraints the table's kinds cannot say. */
const EXTRA: Readonly<Record<string, Record<string, unknown>>> = {
  artifactUrl: { pattern: '^$|^s3://' },
};

type Schema = Record<string, unknown>;

function optionSchema(def: OptionDef): Schema {
  const bounds = (): Schema => ({
    ...(def.min === undefined ? {} : { minimum: def.min }),
    ...(def.max === undefined ? {} : { maximum: def.max }),
  });
  const unit = def.unit === undefined ? '' : ` (${def.unit})`;
  const description = `${def.doc}${unit}`;
  switch (def.kind) {
    case 'string':
    case 'path':
      return { type: 'string', description, ...EXTRA[def.key] };
    case 'models':
      return { type: 'string', description: `${description}; comma-separated in values` };
    case 'port':
      return { type: 'integer', minimum: 0, maximum: 65535, description };
    case 'int':
      return { type: 'integer', ...bounds(), description };
    case 'number':
      return { type: 'number', ...bounds(), description };
    case 'bool':
      return { type: 'boolean', description };
    case 'enum':
      return { enum: [...(def.values ?? [])], description };
  }
}

/** The `config` property: every option of the table, the reserved ones refused. */
export function configSchema(defs: readonly OptionDef[] = OPTION_DEFS): Schema {
  const properties: Record<string, Schema> = {};
  for (const def of defs) {
    const reserved = RESERVED[def.key];
    // `not: {}` matches nothing: setting the key fails with this description as the message.
    properties[def.key] = reserved === undefined ? optionSchema(def) : { not: { description: `cannot be set: ${reserved}` } };
  }
  return {
    type: 'object',
    description:
      'Quiver server options by their config-file names, generated from src/config/options.ts by `npm run gen:chart-schema`; each becomes a QUIVER_* variable',
    additionalProperties: false,
    properties,
  };
}

/** The end of the JSON value that starts at `start` (an object or array), strings skipped. */
function valueEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      if (--depth === 0) return i + 1;
    }
  }
  throw new Error('values.schema.json: unbalanced JSON');
}

/**
 * values.schema.json with its `config` property regenerated (the rest of the file kept as
 * written), formatted as prettier formats it.
 */
export async function chartSchema(current: string = readFileSync(SCHEMA_PATH, 'utf8')): Promise<string> {
  const key = '\n    "config": ';
  const at = current.indexOf(key);
  if (at < 0) throw new Error('values.schema.json has no top-level "config" property');
  const start = at + key.length;
  const text = current.slice(0, start) + JSON.stringify(configSchema()) + current.slice(valueEnd(current, start));
  JSON.parse(text);
  const options = (await resolveConfig(SCHEMA_PATH)) ?? {};
  return format(text, { ...options, filepath: SCHEMA_PATH });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_PATH, await chartSchema());
}
