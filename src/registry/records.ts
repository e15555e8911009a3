/** Rules every registry store applies the same way (SQLite and PostgreSQL). */
import { failedPrecondition } from '../core/errors.js';
import { STAGE_ALIASES, type StageName } from './types.js';

/** Tags merged into the current ones; an empty value removes the tag. */
export function mergeTags(
  current: Readonly<Record<string, string>>,
  patch: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  // A Map, not a record: a tag named '__proto__' (or 'constructor') is a tag like any other.
  const out = new Map(Object.entries(current));
  for (const [k, v] of Object.entries(patch ?? {})) {
    if (v === '') out.delete(k);
    else out.set(k, v);
  }
  return Object.fromEntries(out);
}

/** The stage view over the reserved aliases and the archived flag. */
export function stageOf(aliases: readonly string[], archived: boolean): StageName {
  if (aliases.includes(STAGE_ALIASES.Production)) return 'Production';
  if (aliases.includes(STAGE_ALIASES.Staging)) return 'Staging';
  return archived ? 'Archived' : 'None';
}

/** Why a version cannot be deleted while aliases point at it. */
export function deletionRefused(name: string, version: number, pointing: readonly string[]): Error {
  return failedPrecondition(
    `model '${name}' version ${version} cannot be deleted while ${pointing.map((a) => `'${a}'`).join(', ')} point${pointing.length === 1 ? 's' : ''} at it; move or delete the alias (or transition the stage) first`,
  );
}
