/** `quiver gateway --upstream host:port`: the REST gateway alone, in front of a remote gRPC server (the sidecar form). */
import type { Command } from 'commander';

import { rpcBackend } from '../../gateway/prediction.js';
import { PlaneRoutingInvoker, RemoteInvoker } from '../../gateway/invoker.js';
import { startGateway } from '../../gateway/server.js';
import { type GatewayTls, gatewayTls } from '../../gateway/tls.js';
import { AccessPolicy } from '../auth/policy.js';
import { gatewayPortKey, onPort } from '../config/port-in-use.js';
import { credentials } from '@grpc/grpc-js';

import { GRPCInferenceServiceClient } from '../gen/inference/grpc_predict_v2.js';
import { createLogger } from '../log/logger.js';
import { upstreamOipHandlers } from '../../gateway/oip-upstream.js';
import { handleOipRest } from '../../gateway/oip.js';
import { ServingMetrics } from '../metrics/metrics.js';
import { CliExit } from './exit.js';
import { addOptionFlags, optionsFrom } from './serve.js';

export function addGatewayCommand(program: Command, setCode: (code: number) => void): void {
  addOptionFlags(
    program
      .command('gateway')
      .description('run only the REST gateway, translating to a remote Quiver gRPC server (sidecar form)')
      .requiredOption('--upstream <host:port>', 'the Quiver gRPC server (inference plane)')
      .option(
        '--registry-upstream <host:port>',
        "the Quiver server's registry plane: its REST routes are then served on registryHost:registryHttpPort (they answer UNIMPLEMENTED without it)",
      ),
    [
      'httpHost',
      'httpPort',
      'registryHost',
      'registryHttpPort',
      'registryRestOnHttpPort',
      'httpRequestTimeoutMs',
      'httpHeadersTimeoutMs',
      'httpKeepAliveTimeoutMs',
      'maxHttpBodyBytes',
      'maxJsonDepth',
      'defaultModel',
      'logLevel',
      'authTokens',
      'authTokensFile',
      'authInference',
      'insecureRegistry',
      'tlsCert',
      'tlsKey',
      'tlsClientCa',
      'tlsClientAuth',
    ],
  ).action(async (values: Record<string, unknown>) => {
    let options;
    try {
      options = optionsFrom(values);
    } catch (err) {
      throw new CliExit(2, (err as Error).message);
    }
    let access: AccessPolicy;
    let tls: GatewayTls | undefined;
    try {
      access = AccessPolicy.fromOptions(options);
      tls = gatewayTls(options);
    } catch (err) {
      throw new CliExit(2, (err as Error).message);
    }
    const log = createLogger(options.logLevel);
    const registryUpstream = values.registryUpstream as string | undefined;
    // The gateway applies the server's access rules itself (by the HTTP client's address and
    // token) and forwards the token; the upstream sees this process as its client.
    const invoker = new PlaneRoutingInvoker(
      new RemoteInvoker(values.upstream as string),
      registryUpstream === undefined ? undefined : new RemoteInvoker(registryUpstream),
    );
    const metrics = new ServingMetrics(true);
    const oipClient = new GRPCInferenceServiceClient(values.upstream as string, credentials.createInsecure());
    const oip = upstreamOipHandlers(oipClient);
    const gateway = await onPort(
      options,
      gatewayPortKey,
      startGateway(
        {
          invoker,
          predict: rpcBackend(invoker, options.defaultModel),
          oip: (method, path, body, ctx, requestId) =>
            handleOipRest(oip, method, path, body, ctx, { log, requestId, maxJsonDepth: options.maxJsonDepth }),
          metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
          access,
        },
        {
          host: options.httpHost,
          port: options.httpPort,
          bodyLimit: options.maxHttpBodyBytes,
          maxJsonDepth: options.maxJsonDepth,
          defaultModel: options.defaultModel,
          ...(tls === undefined ? {} : { tls }),
          ...(registryUpstream === undefined ? {} : { registry: { host: options.registryHost, port: options.registryHttpPort } }),
          registryRoutesOnMain: registryUpstream === undefined || options.registryRestOnHttpPort,
          requestTimeoutMs: options.httpRequestTimeoutMs,
          headersTimeoutMs: options.httpHeadersTimeoutMs,
          keepAliveTimeoutMs: options.httpKeepAliveTimeoutMs,
        },
        log,
      ),
    );
    log.info(
      {
        httpPort: gateway.port,
        registryHttpPort: gateway.registryPort ?? null,
        upstream: values.upstream,
        registryUpstream: registryUpstream ?? null,
      },
      'quiver gateway serving',
    );
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        void gateway.close().finally(() => {
          invoker.close();
          oipClient.close();
          resolve();
        });
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    setCode(0);
  });
}
