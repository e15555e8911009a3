/** The server under test: `quiver serve` (lib/quiver-process.ts) on the embedded registry in the run's data directory, every port picked free. */
import { type QuiverBuild, type ServerProcess, startQuiver } from '../lib/quiver-process.js';
import type { SoakOptions } from './options.js';

export function startServer(options: SoakOptions, build: QuiverBuild, dataDir: string): Promise<ServerProcess> {
  const extra = options.workers === undefined ? [] : ['--workers', options.workers];
  return startQuiver(
    build,
    [
      '--data-dir',
      dataDir,
      '--grpc-host',
      '127.0.0.1',
      '--grpc-port',
      '0',
      '--http-host',
      '127.0.0.1',
      '--http-port',
      '0',
      '--metrics-port',
      '0',
      // The registry plane's own port (default 50052) must not collide with anything else.
      '--registry-port',
      '0',
      ...extra,
    ],
    options.serverEnv,
  );
}
