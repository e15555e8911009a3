/** Starts real Quiver servers on ephemeral loopback ports, with real grpc-js clients. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

import { type Options, resolveOptions } from '../../src/config/options.js';
import { createLogger } from '../../src/log/logger.js';
import { tmp } from './fixtures.js';
import { QuiverServer, type ServerExtras } from '../../src/server.js';
import {
  type BatchPredictRequest,
  type BatchPredictResponse,
  type GetModelMetadataResponse,
  type ListModelsResponse,
  type PredictRequest,
  type PredictResponse,
  PredictionServiceClient,
} from '../../src/gen/quiver/v1/prediction.js';

export interface Running {
  readonly server: QuiverServer;
  readonly port: number;
  readonly address: string;
  /** 127.0.0.1:PORT of the registry plane (RegistryService), '' without a registry. */
  readonly registryAddress: string;
  /** http://127.0.0.1:PORT of the in-process REST gateway (the inference plane's HTTP port). */
  readonly http: string;
  /** http://127.0.0.1:PORT of the registry plane's REST routes (registryHttpPort), '' without a registry. */
  readonly registryHttp: string;
  /** http://127.0.0.1:PORT of the dedicated metrics port. */
  readonly metrics: string;
  readonly client: Client;
  close(): Promise<void>;
}

/**
 * @param extras what tests give a server beyond its options: a span exporter, fault injection
 * (request ids `quiver-fault:worker-exit` / `quiver-fault:worker-throw`).
 */
export async function startServer(flags: Partial<Record<keyof Options, unknown>> = {}, extras: ServerExtras = {}): Promise<Running> {
  const options = resolveOptions({
    flags: {
      grpcHost: '127.0.0.1',
      grpcPort: 0,
      registryPort: 0,
      logLevel: 'silent',
      workers: 1,
      // No shedding by waiting time unless a test asks for it: on a loaded machine requests
      // wait longer than the defaults allow, and tests that expect answers would get refusals.
      maxQueueWaitMs: 0,
      queueTargetMs: 0,
      shutdownGraceMs: 5000,
      dataDir: tmp('quiver-data-'),
      httpHost: '127.0.0.1',
      httpPort: 0,
      registryHttpPort: 0,
      metricsHost: '127.0.0.1',
      metricsPort: 0,
      ...flags,
    },
  });
  const server = await QuiverServer.start(options, createLogger(options.logLevel), extras);
  const address = `127.0.0.1:${server.grpcPort}`;
  const client = new Client(address);
  return {
    server,
    port: server.grpcPort,
    address,
    registryAddress: server.registryPort === undefined ? '' : `127.0.0.1:${server.registryPort}`,
    http: `http://127.0.0.1:${server.httpPort ?? 0}`,
    registryHttp: server.registryHttpPort === undefined ? '' : `http://127.0.0.1:${server.registryHttpPort}`,
    metrics: `http://127.0.0.1:${server.metricsPort ?? 0}`,
    client,
    async close() {
      client.close();
      await server.shutdown();
    },
  };
}

export function request(partial: Partial<PredictRequest>): PredictRequest {
  return { modelName: 'production-model', modelVersion: '', features: new Map(), inputs: new Map(), id: '', ...partial };
}

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall;

function call<Req, Res>(fn: Unary<Req, Res>, req: Req, opts: Partial<grpc.CallOptions> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new grpc.Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A promise-returning wrapper over the generated client. */
export class Client {
  readonly raw: PredictionServiceClient;

  constructor(address: string, options: Partial<grpc.ClientOptions> = {}) {
    this.raw = new PredictionServiceClient(address, grpc.credentials.createInsecure(), options);
  }

  predict(req: Partial<PredictRequest>, opts?: Partial<grpc.CallOptions>): Promise<PredictResponse> {
    return call(this.raw.predict.bind(this.raw) as Unary<PredictRequest, PredictResponse>, request(req), opts);
  }

  batchPredict(req: Partial<BatchPredictRequest>, opts?: Partial<grpc.CallOptions>): Promise<BatchPredictResponse> {
    const full: BatchPredictRequest = { modelName: 'production-model', modelVersion: '', requests: [], dense: undefined, ...req };
    return call(this.raw.batchPredict.bind(this.raw) as Unary<BatchPredictRequest, BatchPredictResponse>, full, opts);
  }

  metadata(modelName: string, modelVersion = ''): Promise<GetModelMetadataResponse> {
    return call(this.raw.getModelMetadata.bind(this.raw) as Unary<{ modelName: string; modelVersion: string }, GetModelMetadataResponse>, {
      modelName,
      modelVersion,
    });
  }

  listModels(): Promise<ListModelsResponse> {
    return call(this.raw.listModels.bind(this.raw) as Unary<object, ListModelsResponse>, {});
  }

  close(): void {
    this.raw.close();
  }
}

/** Resolves to the gRPC error a promise rejects with; fails if it resolves. */
export async function grpcError(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** The services a server lists over grpc.reflection.v1 (metadata: e.g. an authorization header). */
export async function reflectionServices(address: string, metadata = new grpc.Metadata()): Promise<string[]> {
  const reflectionProto = new URL('../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url)
    .pathname;
  type Reply = { list_services_response?: { service: Array<{ name: string }> } };
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { keepCase: true })) as unknown as {
    grpc: {
      reflection: {
        v1: {
          ServerReflection: new (
            a: string,
            c: grpc.ChannelCredentials,
          ) => grpc.Client & { ServerReflectionInfo(md: grpc.Metadata): grpc.ClientDuplexStream<object, Reply> };
        };
      };
    };
  };
  const client = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  try {
    const stream = client.ServerReflectionInfo(metadata);
    const reply = await new Promise<Reply>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    stream.end();
    return reply.list_services_response!.service.map((s) => s.name);
  } finally {
    client.close();
  }
}
