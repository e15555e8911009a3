/** The `quiver` command. Subcommands: serve, help, version. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { optionsTable } from '../config/docs.js';
import { envName, flagName, OPTION_DEFS, type Options, resolveOptions } from '../config/options.js';
import { checkHealth } from '../grpc/health-client.js';
import { QuiverError } from '../core/errors.js';
import { createLogger } from '../log/logger.js';
import { PACKAGE_ROOT } from '../paths.js';
import { QuiverServer } from '../server.js';

const PACKAGE = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

function usage(): string {
  const lines = [
    'Usage: quiver <command> [options]',
    '',
    'Commands:',
    '  serve      serve ONNX models over gRPC',
    '  health     check a server over grpc.health.v1 (exit 0 when SERVING): [--address HOST:PORT] [--service NAME]',
    '  options    print the configuration table (markdown)',
    '  version    print the version',
    '  help       print this help',
    '',
    'Options for serve (flag / environment variable / default):',
    '  --config FILE            JSON config file (QUIVER_CONFIG)',
  ];
  for (const def of OPTION_DEFS) {
    const flag = def.key === 'models' ? '--model NAME[:VERSION]=PATH' : `--${flagName(def.key)}${def.kind === 'bool' ? '' : ' VALUE'}`;
    lines.push(`  ${flag.padEnd(24)} ${def.doc} (${envName(def.key)})`);
  }
  lines.push('', 'Precedence: defaults < config file < environment < flags.');
  return lines.join('\n');
}

function parseServeArgs(args: string[]): { flags: Partial<Record<keyof Options, unknown>>; config: string | undefined } {
  const spec: NonNullable<ParseArgsConfig['options']> = { config: { type: 'string' }, model: { type: 'string', multiple: true } };
  for (const def of OPTION_DEFS) {
    if (def.key === 'models') continue;
    spec[flagName(def.key)] = def.kind === 'bool' ? { type: 'boolean' } : { type: 'string' };
  }
  const { values } = parseArgs({ args, options: spec, strict: true, allowPositionals: false });
  const flags: Partial<Record<keyof Options, unknown>> = {};
  for (const def of OPTION_DEFS) {
    const v = def.key === 'models' ? values.model : values[flagName(def.key)];
    if (v !== undefined) flags[def.key] = v;
  }
  return { flags, config: values.config as string | undefined };
}

function loadConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new QuiverError('QUIVER_ERR_INVALID_CONFIG', `config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('must be a JSON object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw new QuiverError('QUIVER_ERR_INVALID_CONFIG', `config file ${path}: ${(err as Error).message}`);
  }
}

async function serve(args: string[]): Promise<number> {
  let options: Options;
  try {
    const { flags, config } = parseServeArgs(args);
    const configPath = config ?? process.env.QUIVER_CONFIG;
    options = resolveOptions({
      ...(configPath === undefined ? {} : { file: loadConfigFile(configPath), filePath: configPath }),
      env: process.env,
      flags,
    });
  } catch (err) {
    process.stderr.write(`quiver: ${(err as Error).message}\n`);
    return 2;
  }
  const log = createLogger(options.logLevel);
  let server: QuiverServer;
  try {
    server = await QuiverServer.start(options, log);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.stderr.write(`quiver: could not start: ${(err as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      log.info({ signal }, 'signal received');
      server.shutdown().then(
        (clean) => resolve(clean ? 0 : 1),
        (err: unknown) => {
          log.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** `quiver health`: a gRPC health probe for container HEALTHCHECKs and exec probes. */
async function health(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { address: { type: 'string' }, service: { type: 'string' }, timeout: { type: 'string' } },
    strict: true,
  });
  const address = values.address ?? `127.0.0.1:${process.env.QUIVER_GRPC_PORT ?? '50051'}`;
  try {
    const status = await checkHealth(address, values.service ?? '', Number(values.timeout ?? 3000));
    process.stdout.write(`${status}\n`);
    return status === 'SERVING' ? 0 : 1;
  } catch (err) {
    process.stderr.write(`quiver health: ${address}: ${(err as Error).message}\n`);
    return 1;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'health':
      return health(rest);
    case 'options':
      process.stdout.write(optionsTable() + '\n');
      return 0;
    case 'version':
    case '--version':
      process.stdout.write(`quiver ${PACKAGE.version}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage() + '\n');
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`quiver: unknown command '${command}'\n\n${usage()}\n`);
      return 2;
  }
}
