/** Parses and runs a commander program, mapping errors to exit codes (shared by every entry). */
import { type Command, CommanderError } from 'commander';

import { QuiverError } from '../core/errors.js';
import { CliExit } from './exit.js';

/** Returns the exit code: the action's (`code()`), 2 for usage errors, 1 for failures. */
export async function run(p: Command, argv: string[], code: () => number): Promise<number> {
  try {
    await p.parseAsync(argv, { from: 'user' });
    return code();
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; their text is already printed.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return 2;
    }
    if (err instanceof CliExit) {
      if (err.message !== '') process.stderr.write(`quiver: ${err.message}\n`);
      return err.code;
    }
    if (err instanceof QuiverError) {
      process.stderr.write(`quiver: ${err.message}\n`);
      return err.code === 'QUIVER_ERR_INVALID_ARGUMENT' || err.code === 'QUIVER_ERR_INVALID_CONFIG' ? 2 : 1;
    }
    process.stderr.write(`quiver: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
