/**
 * A listener on a port option: when the port is taken, one line that says which option moves
 * it (grpc-js and node:net only say EADDRINUSE and the address).
 */
import { QuiverError } from '../core/errors.js';
import { envName, flagName, type Options } from './options.js';

export type PortKey = 'grpcPort' | 'registryPort' | 'httpPort' | 'registryHttpPort' | 'metricsPort';

export async function onPort<T>(options: Options, which: PortKey | ((err: unknown) => PortKey), listening: Promise<T>): Promise<T> {
  try {
    return await listening;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    if (e.code !== 'EADDRINUSE' && !String(e.message).includes('EADDRINUSE')) throw err;
    const key = typeof which === 'function' ? which(err) : which;
    throw new QuiverError(
      'QUIVER_ERR_UNAVAILABLE',
      `port ${options[key]} (${key}) is in use: pick another with --${flagName(key)} or ${envName(key)}`,
      { cause: err },
    );
  }
}

/** Which of the gateway's two listeners failed: its errors carry the plane (gateway/server.ts). */
export const gatewayPortKey = (err: unknown): PortKey =>
  (err as { plane?: unknown }).plane === 'registry' ? 'registryHttpPort' : 'httpPort';
