/**
 * Parses and runs a commander program, mapping errors to exit codes (shared by every entry):
 * every error is one line on stderr, `quiver: <what is wrong and what to do>`; the stack and
 * the causes only with `--verbose` (every command takes it) or QUIVER_DEBUG=1.
 */
import { type Command, CommanderError, Option } from 'commander';

import { QuiverError } from '../core/errors.js';
import { CliExit } from './exit.js';

const VERBOSE_HELP = 'on errors, also print the stack trace and causes (or QUIVER_DEBUG=1)';

/** Every command takes --verbose, and commander's own errors come back here to print as one line. */
function prepare(cmd: Command): void {
  cmd.configureOutput({ outputError: () => undefined }).showHelpAfterError(false);
  if (!cmd.options.some((o) => o.long === '--verbose')) cmd.addOption(new Option('--verbose', VERBOSE_HELP));
  for (const sub of cmd.commands) prepare(sub);
}

/** "error: unknown option '--x'\n(Did you mean --y?)" as one line. */
function usageLine(err: CommanderError): string {
  const text = err.message
    .replace(/^error: /, '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
  return `${text}; --help lists the commands and their flags`;
}

/** The error, its stack and every cause, for --verbose. */
function details(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    parts.push(`${depth === 0 ? '' : 'caused by: '}${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    if (!(e instanceof Error)) break;
  }
  return parts.join('\n');
}

/** Returns the exit code: the action's (`code()`), 2 for usage errors, 1 for failures. */
export async function run(p: Command, argv: string[], code: () => number): Promise<number> {
  prepare(p);
  const verbose = (): boolean => process.env.QUIVER_DEBUG === '1' || argv.includes('--verbose');
  const say = (message: string, err: unknown): void => {
    process.stderr.write(`quiver: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
    if (verbose()) process.stderr.write(`${details(err)}\n`);
  };
  try {
    await p.parseAsync(argv, { from: 'user' });
    return code();
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; their text is already printed.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      process.stderr.write(`quiver: ${usageLine(err)}\n`);
      return 2;
    }
    if (err instanceof CliExit) {
      if (err.message !== '') say(err.message, err);
      return err.code;
    }
    if (err instanceof QuiverError) {
      say(err.message, err);
      return err.code === 'QUIVER_ERR_INVALID_ARGUMENT' || err.code === 'QUIVER_ERR_INVALID_CONFIG' ? 2 : 1;
    }
    // Not an error we expected: still one line, with the way to see more.
    say(`${err instanceof Error ? err.message : String(err)} (--verbose or QUIVER_DEBUG=1 shows where)`, err);
    return 1;
  }
}
