/** Rules every registry store applies the same way (SQLite and PostgreSQL). */
import { failedPrecondition } from '../core/errors.js';
import { STAGE_ALIASES, type StageName } from './types.js';

/** Tags merged into the current ones; an empty value removes the tag. */
export function mergeTags(
  current: Readonly<Record<string, string>>,
  patch: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  const out: Record<string, string> = { ...current };
  for (const [k, v] of Object.entries(patch ?? {})) {
    if (v === '') delete out[k];
    else out[k] = v;
  }
  return out;
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
