/**
 * `quiver health`: one grpc.health.v1 Check (container HEALTHCHECK, Kubernetes exec probes
 * when TLS is on). It runs every few seconds in every pod, so bin.ts starts it through
 * healthMain(), which loads only this module (grpc-js and the health proto), not the server,
 * onnxruntime, the registry or the gateway: about 0.2 s of CPU instead of about 1 s.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import { Command } from 'commander';

import { checkHealth } from '../grpc/health-client.js';
import { CliExit } from './exit.js';
import { run } from './run.js';

interface HealthFlags {
  address: string;
  service: string;
  timeout: string;
  tls: boolean;
  tlsCa?: string;
  tlsClientCert?: string;
  tlsClientKey?: string;
}

export function addHealthCommand(p: Command, setCode: (code: number) => void): void {
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
        const status = await checkHealth(
          values.address,
          values.service,
          Number(values.timeout),
          healthCredentials(values),
          channelOptions(values),
        );
        process.stdout.write(`${status}\n`);
        setCode(status === 'SERVING' ? 0 : 1);
      } catch (err) {
        throw new CliExit(1, `health: ${values.address}: ${(err as Error).message}`);
      }
    });
}

/** Channel credentials for `quiver health`, as grpc_health_probe's -tls flags. */
function healthCredentials(values: HealthFlags): grpc.ChannelCredentials {
  if (!values.tls) return grpc.credentials.createInsecure();
  const mtls = /^(1|true|yes|on)$/i.test(process.env.QUIVER_TLS_CLIENT_AUTH ?? '');
  const certFile = values.tlsClientCert ?? (mtls ? process.env.QUIVER_TLS_CERT : undefined);
  const keyFile = values.tlsClientKey ?? (mtls ? process.env.QUIVER_TLS_KEY : undefined);
  // Relative files (flags or QUIVER_TLS_*) are read against this command's working directory.
  const read = (file: string | undefined): Buffer | null => (file === undefined || file === '' ? null : readFileSync(resolvePath(file)));
  return grpc.credentials.createSsl(
    read(values.tlsCa),
    read(keyFile),
    read(certFile),
    // A probe of the local server checks that it answers over TLS, not who it is.
    values.tlsCa === undefined ? { rejectUnauthorized: false } : {},
  );
}

/**
 * Without a CA nothing is verified, so the TLS server name is only SNI: give an IP address
 * target a name, or Node warns (DEP0123) that SNI cannot be an IP address on every probe.
 */
function channelOptions(values: HealthFlags): grpc.ChannelOptions {
  const host = values.address.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return values.tls && values.tlsCa === undefined && isIP(host) !== 0 ? { 'grpc.ssl_target_name_override': 'localhost' } : {};
}

/** `quiver health ...` with nothing else loaded (bin.ts routes here). */
export async function healthMain(argv: string[]): Promise<number> {
  let code = 0;
  const p = new Command('quiver').exitOverride().showHelpAfterError('(quiver health --help lists its flags)');
  addHealthCommand(p, (c) => (code = c));
  return run(p, argv, () => code);
}
