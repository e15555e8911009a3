/**
 * The gateway's TLS: the certificate files the server options name (the same as gRPC's), read
 * at start, and the `https` option fastify builds its listeners with (mTLS when a client CA
 * is given).
 */
import { readFileSync } from 'node:fs';

import { invalidConfig } from '../src/core/errors.js';

export interface GatewayTls {
  readonly key: Buffer;
  readonly cert: Buffer;
  /** Client certificates must be signed by this CA (mTLS). */
  readonly ca?: Buffer;
}

/** The gateway's TLS settings from the server options (the same files as gRPC's). */
export function gatewayTls(options: {
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsClientCa: string;
  readonly tlsClientAuth: boolean;
}): GatewayTls | undefined {
  if (options.tlsCert === '') return undefined;
  const read = (key: 'tlsCert' | 'tlsKey' | 'tlsClientCa'): Buffer => {
    try {
      return readFileSync(options[key]);
    } catch (err) {
      throw invalidConfig(`option ${key}: cannot read ${options[key]}: ${(err as Error).message}`);
    }
  };
  return { key: read('tlsKey'), cert: read('tlsCert'), ...(options.tlsClientAuth ? { ca: read('tlsClientCa') } : {}) };
}

/**
 * fastify's `https` option for `tls` (none without it): the HTTP server's own options (its
 * timeouts) carried over, and with a CA, client certificates required and checked.
 */
export function httpsOptions<T extends object>(tls: GatewayTls | undefined, serverOptions: T) {
  return tls === undefined
    ? {}
    : {
        https: {
          ...serverOptions,
          key: tls.key,
          cert: tls.cert,
          ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }),
        },
      };
}
