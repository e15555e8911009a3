/** The `quiver` command (commander): serve, health, options, registry, promote, and the training commands. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import { Command, CommanderError } from 'commander';

import { optionsTable } from '../config/docs.js';
import { QuiverError } from '../core/errors.js';
import { checkHealth } from '../grpc/health-client.js';
import { PACKAGE_ROOT } from '../paths.js';
import { CliExit } from './exit.js';
import { addGatewayCommand } from './gateway-command.js';
import { addRegistryCommands } from './registry-commands.js';
import { addOptionFlags, serve } from './serve.js';
import { addTrainingCommands } from './training-commands.js';

const PACKAGE = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string };

function program(setCode: (code: number) => void): Command {
  const p = new Command('quiver')
    .description('Quiver: a gRPC-first inference server for ONNX models, with a registry and a training pipeline')
    .showHelpAfterError('(quiver --help lists the commands)')
    .exitOverride();
  p.command('version')
    .description('print the version')
    .action(() => {
      process.stdout.write(`quiver ${PACKAGE.version}\n`);
    });
  addOptionFlags(p.command('serve').description('serve ONNX models over gRPC (the registry, files, a model directory)')).action(
    async (values: Record<string, unknown>) => setCode(await serve(values)),
  );
  p.command('health')
    .description('check a server over grpc.health.v1: exit 0 when SERVING (container HEALTHCHECK, exec probes)')
    .option('--address <host:port>', 'the server', `127.0.0.1:${process.env.QUIVER_GRPC_PORT ?? '50051'}`)
    .option('--service <name>', 'a service name; empty for the server as a whole', '')
    .option('--timeout <ms>', 'deadline', '3000')
    .option(
      '--tls',
      'connect with TLS (default: when QUIVER_TLS_CERT is set)',
      process.env.QUIVER_TLS_CERT !== undefined && process.env.QUIVER_TLS_CERT !== '',
    )
    .option('--tls-ca <file>', "verify the server's certificate against this CA (default: a local probe does not verify)")
    .option('--tls-client-cert <file>', 'client certificate for mTLS (default: QUIVER_TLS_CERT when QUIVER_TLS_CLIENT_AUTH is true)')
    .option('--tls-client-key <file>', 'its key (default: QUIVER_TLS_KEY when QUIVER_TLS_CLIENT_AUTH is true)')
    .action(async (values: HealthFlags) => {
      try {
        const status = await checkHealth(values.address, values.service, Number(values.timeout), healthCredentials(values));
        process.stdout.write(`${status}\n`);
        setCode(status === 'SERVING' ? 0 : 1);
      } catch (err) {
        throw new CliExit(1, `health: ${values.address}: ${(err as Error).message}`);
      }
    });
  p.command('options')
    .description('print the configuration table (markdown)')
    .action(() => {
      process.stdout.write(optionsTable() + '\n');
    });
  addGatewayCommand(p, setCode);
  addRegistryCommands(p);
  addTrainingCommands(p);
  return p;
}

interface HealthFlags {
  address: string;
  service: string;
  timeout: string;
  tls: boolean;
  tlsCa?: string;
  tlsClientCert?: string;
  tlsClientKey?: string;
}

/** Channel credentials for `quiver health`, as grpc_health_probe's -tls flags. */
function healthCredentials(values: HealthFlags): grpc.ChannelCredentials {
  if (!values.tls) return grpc.credentials.createInsecure();
  const mtls = /^(1|true|yes|on)$/i.test(process.env.QUIVER_TLS_CLIENT_AUTH ?? '');
  const certFile = values.tlsClientCert ?? (mtls ? process.env.QUIVER_TLS_CERT : undefined);
  const keyFile = values.tlsClientKey ?? (mtls ? process.env.QUIVER_TLS_KEY : undefined);
  return grpc.credentials.createSsl(
    values.tlsCa === undefined ? null : readFileSync(values.tlsCa),
    keyFile === undefined ? null : readFileSync(keyFile),
    certFile === undefined ? null : readFileSync(certFile),
    // A probe of the local server checks that it answers over TLS, not who it is.
    values.tlsCa === undefined ? { rejectUnauthorized: false } : {},
  );
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
  try {
    await p.parseAsync(argv, { from: 'user' });
    return code;
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
