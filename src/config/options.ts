/**
 * The one options schema. Every option has a key (config file, camelCase), an environment
 * variable (QUIVER_*), a CLI flag, a default with its unit, and a validator whose message
 * names the option. Sources are merged defaults < config file < environment < CLI flags,
 * validated once at start-up and frozen.
 *
 * This file merges the sources (resolveOptions) and is where the rest of the code imports the
 * schema from. The parts: option-schema.ts (the Options type, what defines an option),
 * option-table.ts (every option), option-names.ts (its environment variable and flag),
 * option-values.ts (one value checked and converted), cross-checks.ts (the rules between
 * options).
 */
import { dirname, resolve } from 'node:path';

import { invalidConfig } from '../core/errors.js';
import { checkAcrossOptions } from './cross-checks.js';
import { envName, flagName } from './option-names.js';
import type { OptionDef, Options } from './option-schema.js';
import { OPTION_DEFS } from './option-table.js';
import { absolute, coerce, type RawValue } from './option-values.js';

export type { ModelSpec, OptionDef, Options } from './option-schema.js';
export { OPTION_DEFS } from './option-table.js';
export { envName, flagName } from './option-names.js';
export { parseModelSpec } from './option-values.js';
export { checkTokenCount } from './cross-checks.js';

export interface Sources {
  /** Parsed config file contents (camelCase keys). */
  readonly file?: Record<string, unknown>;
  readonly filePath?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** CLI flag values by option key. */
  readonly flags?: Partial<Record<keyof Options, unknown>>;
  /** The working directory relative flags, environment values and defaults resolve against (default: process.cwd()). */
  readonly cwd?: string;
}

/** Merges the sources, validates every option and returns the frozen result. */
export function resolveOptions(sources: Sources): Options {
  checkKnownKeys(sources);
  const cwd = sources.cwd ?? process.cwd();
  const fileBase = sources.filePath === undefined ? cwd : dirname(resolve(cwd, sources.filePath));
  const out: Partial<Record<keyof Options, unknown>> = {};
  for (const def of OPTION_DEFS) {
    const raw = rawValue(def, sources, cwd, fileBase);
    if (raw !== undefined) out[def.key] = coerce(def, raw);
    else out[def.key] = def.kind === 'path' ? absolute(cwd, def.default(out) as string) : def.default(out);
  }
  const options = out as unknown as Options;
  checkAcrossOptions(options);
  return Object.freeze({ ...options, models: Object.freeze(options.models.map((m) => Object.freeze({ ...m }))) });
}

/** A config file or flag naming no option is refused (the environment may hold anything). */
function checkKnownKeys(sources: Sources): void {
  const known = new Set<string>(OPTION_DEFS.map((d) => d.key));
  for (const key of Object.keys(sources.file ?? {})) {
    if (!known.has(key)) {
      throw invalidConfig(`config file ${sources.filePath ?? ''}: unknown option '${key}' (known: ${[...known].join(', ')})`);
    }
  }
  for (const key of Object.keys(sources.flags ?? {})) {
    if (!known.has(key)) throw invalidConfig(`unknown option '${key}'`);
  }
}

/** The value that wins for `def`: a flag over the environment over the config file; undefined when none sets it. */
function rawValue(def: OptionDef, sources: Sources, cwd: string, fileBase: string): RawValue | undefined {
  let raw: RawValue | undefined;
  const fileValue = sources.file?.[def.key];
  if (fileValue !== undefined) raw = { value: fileValue, source: `config file ${sources.filePath ?? ''}`.trim(), base: fileBase };
  const envValue = sources.env?.[envName(def.key)];
  if (envValue !== undefined && envValue !== '') raw = { value: envValue, source: `env ${envName(def.key)}`, base: cwd };
  const flagValue = sources.flags?.[def.key];
  // `models` is the repeatable --model flag.
  if (flagValue !== undefined)
    raw = { value: flagValue, source: `flag --${def.key === 'models' ? 'model' : flagName(def.key)}`, base: cwd };
  return raw;
}
