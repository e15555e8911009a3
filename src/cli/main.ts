/** The `quiver` command (commander): serve, health, options, registry, promote, and the training commands. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Command } from 'commander';

import { optionsTable } from '../config/docs.js';
import { PACKAGE_ROOT } from '../paths.js';
import { addGatewayCommand } from './gateway-command.js';
import { addHealthCommand } from './health-command.js';
import { addRegistryCommands } from './registry-commands.js';
import { addRolloutCommands } from './rollout-commands.js';
import { run } from './run.js';
import { addOptionFlags, serve } from './serve.js';
import { addTrainingCommands } from './training-commands.js';

const PACKAGE = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

export function program(setCode: (code: number) => void): Command {
  const p = new Command('quiver')
    .description('Quiver: a gRPC-first inference server for ONNX models, with a registry and a training pipeline')
    .exitOverride();
  p.command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`quiver ${PACKAGE.version}\n`);
    });
  addOptionFlags(p.command('serve').description('serve ONNX models over gRPC (the registry, files, a model directory)')).action(
    async (values: Record<string, unknown>) => setCode(await serve(values)),
  );
  addHealthCommand(p, setCode);
  p.command('options')
    .description('print the configuration table (markdown)')
    .action(() => {
      process.stdout.write(optionsTable() + '\n');
    });
  addGatewayCommand(p, setCode);
  addRegistryCommands(p);
  addRolloutCommands(p);
  addTrainingCommands(p);
  return p;
}

/** Runs the CLI; returns the exit code (2 for usage errors, 1 for failures). */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const p = program((c) => (code = c));
  // Not commander's program.version(): its global --version would swallow `promote --version N`.
  if (argv.length === 1 && argv[0] === '--version') argv = ['version'];
  if (argv.length === 0) {
    process.stdout.write(p.helpInformation());
    return 2;
  }
  return run(p, argv, () => code);
}
