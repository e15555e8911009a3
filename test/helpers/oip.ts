/** The Open Inference Protocol's gRPC service, as the tests call it. */
import * as grpc from '@grpc/grpc-js';

import {
  GRPCInferenceServiceClient,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataResponse,
} from '../../src/gen/inference/grpc_predict_v2.js';

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;

/** A typed OIP (KServe v2) gRPC client: one method per RPC, a 30 s deadline on each. */
export class Oip {
  readonly raw: GRPCInferenceServiceClient;

  constructor(address: string) {
    this.raw = new GRPCInferenceServiceClient(address, grpc.credentials.createInsecure());
  }

  private call<Req, Res>(fn: unknown, req: Req): Promise<Res> {
    return new Promise((resolve, reject) =>
      (fn as Unary<Req, Res>).call(this.raw, req, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
  }

  live = () => this.call<object, { live: boolean }>(this.raw.serverLive, {});
  ready = () => this.call<object, { ready: boolean }>(this.raw.serverReady, {});
  modelReady = (name: string, version = '') => this.call<object, { ready: boolean }>(this.raw.modelReady, { name, version });
  serverMetadata = () => this.call<object, { name: string; version: string; extensions: string[] }>(this.raw.serverMetadata, {});
  modelMetadata = (name: string, version = '') => this.call<object, ModelMetadataResponse>(this.raw.modelMetadata, { name, version });
  infer = (req: Partial<ModelInferRequest>) =>
    this.call<ModelInferRequest, ModelInferResponse>(this.raw.modelInfer, {
      modelName: 'production-model',
      modelVersion: '',
      id: '',
      parameters: new Map(),
      inputs: [],
      outputs: [],
      rawInputContents: [],
      ...req,
    });

  close(): void {
    this.raw.close();
  }
}
