/** Wires the REST gateway (gateway/) into a server process: in-process calls, core fast paths. */
import { join } from 'node:path';

import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';

import { coreBackend } from '../gateway/blueprint.js';
import { InProcessInvoker, PlaneRoutingInvoker, RemoteInvoker } from '../gateway/invoker.js';
import { type Gateway, startGateway } from '../gateway/server.js';
import { gatewayTls } from '../gateway/tls.js';
import type { AccessPolicy } from './auth/policy.js';
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
  socketDir: string,
  options: Options,
  log: Logger,
  metrics: ServingMetrics,
  access: AccessPolicy,
  tracer?: Tracer,
): Promise<Gateway> {
  // Unary RPCs call the (access-checked) handlers directly; streaming ones go through a client
  // to this process's private unix sockets, one per plane.
  const invoker = new InProcessInvoker(
    grpc.methods,
    new PlaneRoutingInvoker(
      new RemoteInvoker(`unix:${join(socketDir, 'grpc.sock')}`),
      grpc.registryServer === undefined ? undefined : new RemoteInvoker(`unix:${join(socketDir, 'registry.sock')}`),
    ),
  );
  const tls = gatewayTls(options);
  const oip = oipCoreBackend(core, { serving: () => grpc.isServing() });
  return startGateway(
    {
      invoker,
      predict: coreBackend(core, options.defaultModel, { maxRequestRows: options.maxRequestRows, maxFeatures: 65536 }),
      oip: (method, path, body, ctx, requestId) =>
        handleOipRest(oip, method, path, body, ctx, { log, requestId, maxJsonDepth: options.maxJsonDepth }),
      ...(tracer === undefined ? {} : { tracer }),
      metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
      access,
      gatewayKey: grpc.gatewayKey,
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
