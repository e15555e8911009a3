/**
 * inference.GRPCInferenceService: the Open Inference Protocol v2 over gRPC, so Triton,
 * KServe and MLServer clients work unchanged. Its messages are translated in
 * src/contract/oip-grpc.ts and every operation is the one handler set's
 * (src/handlers/oip.ts), which the REST form (gateway/oip.ts) calls too.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';

import { inferRequestFromGrpc, inferResponseToGrpc, modelMetadataToGrpc } from '../contract/oip-grpc.js';
import { oipServiceDefinition } from '../contract/services.js';
import type {
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataRequest,
  ModelMetadataResponse,
  ModelReadyRequest,
  ModelReadyResponse,
  ServerLiveResponse,
  ServerMetadataResponse,
  ServerReadyResponse,
} from '../gen/inference/grpc_predict_v2.js';
import type { UnaryHandler } from '../handlers/handler.js';
import type { OipHandlers } from '../handlers/oip.js';
import { type Adapter, grpcImplementation } from './calls.js';

export function oipService(oip: OipHandlers, adapter: Adapter): UntypedServiceImplementation {
  const messages: Record<string, UnaryHandler<never, unknown>> = {
    serverLive: async (_req: unknown, ctx): Promise<ServerLiveResponse> => ({ live: await oip.serverLive(ctx) }),
    serverReady: async (_req: unknown, ctx): Promise<ServerReadyResponse> => ({ ready: await oip.serverReady(ctx) }),
    modelReady: async (req: ModelReadyRequest, ctx): Promise<ModelReadyResponse> => ({
      ready: await oip.modelReady(req.name, req.version, ctx),
    }),
    serverMetadata: async (_req: unknown, ctx): Promise<ServerMetadataResponse> => {
      const m = await oip.serverMetadata(ctx);
      return { name: m.name, version: m.version, extensions: [...m.extensions] };
    },
    modelMetadata: async (req: ModelMetadataRequest, ctx): Promise<ModelMetadataResponse> =>
      modelMetadataToGrpc(await oip.modelMetadata(req.name, req.version, ctx)),
    modelInfer: async (req: ModelInferRequest, ctx): Promise<ModelInferResponse> => {
      const { request, rawOutputs } = inferRequestFromGrpc(req);
      return inferResponseToGrpc(await oip.modelInfer(request, ctx), rawOutputs);
    },
  };
  return grpcImplementation(oipServiceDefinition(), messages, adapter);
}
