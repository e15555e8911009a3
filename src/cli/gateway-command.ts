/** `quiver gateway --upstream host:port`: the REST gateway alone, in front of a remote gRPC server (the sidecar form). */
import type { Command } from 'commander';

import { rpcBackend } from '../../gateway/blueprint.js';
import { RemoteInvoker } from '../../gateway/invoker.js';
import { startGateway } from '../../gateway/server.js';
import { credentials } from '@grpc/grpc-js';

import { GRPCInferenceServiceClient } from '../gen/inference/grpc_predict_v2.js';
import { createLogger } from '../log/logger.js';
import { upstreamBackend } from '../oip/upstream.js';
import { handleOipRest } from '../oip/rest.js';
import { ServingMetrics } from '../metrics/metrics.js';
import { CliExit } from './exit.js';
import { addOptionFlags, optionsFrom } from './serve.js';

export function addGatewayCommand(program: Command, setCode: (code: number) => void): void {
  addOptionFlags(
    program
      .command('gateway')
      .description('run only the REST gateway, translating to a remote Quiver gRPC server (sidecar form)')
      .requiredOption('--upstream <host:port>', 'the Quiver gRPC server'),
    ['httpHost', 'httpPort', 'maxHttpBodyBytes', 'maxJsonDepth', 'defaultModel', 'logLevel'],
  ).action(async (values: Record<string, unknown>) => {
    let options;
    try {
      options = optionsFrom(values);
    } catch (err) {
      throw new CliExit(2, (err as Error).message);
    }
    const log = createLogger(options.logLevel);
    const invoker = new RemoteInvoker(values.upstream as string);
    const metrics = new ServingMetrics(true);
    const oipClient = new GRPCInferenceServiceClient(values.upstream as string, credentials.createInsecure());
    const oip = upstreamBackend(oipClient);
    const gateway = await startGateway(
      {
        invoker,
        predict: rpcBackend(invoker, options.defaultModel),
        oip: (method, path, body, ctx) => handleOipRest(oip, method, path, body, ctx, { log }),
        metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
      },
      {
        host: options.httpHost,
        port: options.httpPort,
        bodyLimit: options.maxHttpBodyBytes,
        maxJsonDepth: options.maxJsonDepth,
        defaultModel: options.defaultModel,
      },
      log,
    );
    log.info({ httpPort: gateway.port, upstream: values.upstream }, 'quiver gateway serving');
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
