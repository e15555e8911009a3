/** Wires the REST gateway (gateway/) into a server process: direct calls of the one handler set. */
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';

import { DirectInvoker } from '../../gateway/direct-invoker.js';
import { handleOipRest } from '../../gateway/oip.js';
import { handlerBackend } from '../../gateway/prediction.js';
import { type Gateway, startGateway } from '../../gateway/server.js';
import { gatewayTls } from '../../gateway/tls.js';
import type { AccessPolicy } from '../auth/policy.js';
import type { Options } from '../config/options.js';
import { decodeLimits, MAX_MAP_ENTRIES } from '../contract/services.js';
import type { HandlerSet } from '../handlers/handler-set.js';
import type { GrpcServer } from '../grpc/server.js';
import type { ServingMetrics } from '../metrics/metrics.js';

export type { Gateway };

export async function startInProcessGateway(
  handlers: HandlerSet,
  grpc: GrpcServer,
  options: Options,
  log: Logger,
  metrics: ServingMetrics,
  access: AccessPolicy,
  tracer?: Tracer,
): Promise<Gateway> {
  // Every RPC is a direct call of the handlers, streaming ones included: no socket to ourselves.
  const invoker = new DirectInvoker(handlers, decodeLimits(options.maxRequestRows), access, () => grpc.isServing());
  const tls = gatewayTls(options);
  return startGateway(
    {
      invoker,
      predict: handlerBackend(handlers.prediction, options.defaultModel, {
        maxRequestRows: options.maxRequestRows,
        maxFeatures: MAX_MAP_ENTRIES,
      }),
      oip: (method, path, body, ctx, requestId) =>
        handleOipRest(handlers.oip, method, path, body, ctx, { log, requestId, maxJsonDepth: options.maxJsonDepth }),
      ...(tracer === undefined ? {} : { tracer }),
      metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
      access,
      inflightCap: grpc.inflightCap,
    },
    {
      host: options.httpHost,
      port: options.httpPort,
      bodyLimit: options.maxHttpBodyBytes,
      maxJsonDepth: options.maxJsonDepth,
      maxRequestRows: options.maxRequestRows,
      defaultModel: options.defaultModel,
      ...(tls === undefined ? {} : { tls }),
      // The registry plane's REST routes on a port of their own, next to its gRPC port.
      ...(grpc.registryServer === undefined ? {} : { registry: { host: options.registryHost, port: options.registryHttpPort } }),
      registryRoutesOnMain: options.registryRestOnHttpPort,
      requestTimeoutMs: options.httpRequestTimeoutMs,
      headersTimeoutMs: options.httpHeadersTimeoutMs,
      keepAliveTimeoutMs: options.httpKeepAliveTimeoutMs,
    },
    log.child({ component: 'gateway' }),
  );
}
