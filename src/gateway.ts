/** Wires the REST gateway (gateway/) into a server process: in-process calls, core fast paths. */
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';

import { coreBackend } from '../gateway/blueprint.js';
import { InProcessInvoker, RemoteInvoker } from '../gateway/invoker.js';
import { type Gateway, startGateway } from '../gateway/server.js';
import type { Options } from './config/options.js';
import type { InferenceCore } from './core/inference.js';
import type { GrpcServer } from './grpc/server.js';
import type { ServingMetrics } from './metrics/metrics.js';
import { coreBackend as oipCoreBackend } from './oip/protocol.js';
import { handleOipRest } from './oip/rest.js';

export type { Gateway };

export async function startInProcessGateway(
  core: InferenceCore,
  grpc: GrpcServer,
  grpcPort: number,
  options: Options,
  log: Logger,
  metrics: ServingMetrics,
  tracer?: Tracer,
): Promise<Gateway> {
  // Streaming RPCs go through a client to this process's own port; unary ones do not.
  const loopbackHost = options.grpcHost === '0.0.0.0' || options.grpcHost === '::' ? '127.0.0.1' : options.grpcHost;
  const invoker = new InProcessInvoker(
    grpc.methods,
    new RemoteInvoker(`${loopbackHost.includes(':') ? `[${loopbackHost}]` : loopbackHost}:${grpcPort}`),
  );
  const oip = oipCoreBackend(core, { serving: () => grpc.isServing() });
  return startGateway(
    {
      invoker,
      predict: coreBackend(core, options.defaultModel),
      oip: (method, path, body, ctx) => handleOipRest(oip, method, path, body, ctx, { log }),
      ...(tracer === undefined ? {} : { tracer }),
      metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
    },
    {
      host: options.httpHost,
      port: options.httpPort,
      bodyLimit: options.maxHttpBodyBytes,
      maxJsonDepth: options.maxJsonDepth,
      defaultModel: options.defaultModel,
    },
    log.child({ component: 'gateway' }),
  );
}
