/**
 * inference.GRPCInferenceService: the Open Inference Protocol v2 over gRPC, so Triton,
 * KServe and MLServer clients work unchanged. A thin adapter: the messages are translated
 * in src/oip/grpc.ts and every operation is the transport-neutral one in src/oip/protocol.ts
 * (the same the REST form calls), served from the inference core.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { InferenceCore } from '../core/inference.js';
import {
  GRPCInferenceServiceService,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataRequest,
  type ModelMetadataResponse,
  type ModelReadyRequest,
  type ModelReadyResponse,
  type ServerLiveResponse,
  type ServerMetadataResponse,
  type ServerReadyResponse,
} from '../gen/inference/grpc_predict_v2.js';
import { inferRequestFromGrpc, inferResponseToGrpc, modelMetadataToGrpc } from '../oip/grpc.js';
import { coreBackend } from '../oip/protocol.js';
import { type InflightCalls, unary } from './calls.js';
import { safely } from './codec.js';

export const OIP_SERVICE_NAME = 'inference.GRPCInferenceService';

type Method = keyof typeof GRPCInferenceServiceService;

/** The generated definition with every request decoder made safe: bad bytes are INVALID_ARGUMENT. */
export function oipServiceDefinition() {
  const safe = <M extends Method>(m: M) => ({
    ...GRPCInferenceServiceService[m],
    requestDeserialize: safely(GRPCInferenceServiceService[m].requestDeserialize),
  });
  return {
    serverLive: safe('serverLive'),
    serverReady: safe('serverReady'),
    modelReady: safe('modelReady'),
    serverMetadata: safe('serverMetadata'),
    modelMetadata: safe('modelMetadata'),
    modelInfer: safe('modelInfer'),
  } as const;
}

/**
 * @param serving whether the server is serving (its models loaded, not shutting down):
 *   ServerReady and ModelReady answer false otherwise.
 */
export function oipServiceHandlers(
  core: InferenceCore,
  log: Logger,
  calls: InflightCalls,
  serving: () => boolean = () => true,
): UntypedServiceImplementation {
  const oip = coreBackend(core, { serving });
  return {
    serverLive: unary<unknown, ServerLiveResponse>('ServerLive', log, calls, async (_req, ctx) => ({ live: await oip.serverLive(ctx) })),
    serverReady: unary<unknown, ServerReadyResponse>('ServerReady', log, calls, async (_req, ctx) => ({
      ready: await oip.serverReady(ctx),
    })),
    modelReady: unary<ModelReadyRequest, ModelReadyResponse>('ModelReady', log, calls, async (req, ctx) => ({
      ready: await oip.modelReady(req.name, req.version, ctx),
    })),
    serverMetadata: unary<unknown, ServerMetadataResponse>('ServerMetadata', log, calls, async (_req, ctx) => {
      const m = await oip.serverMetadata(ctx);
      return { name: m.name, version: m.version, extensions: [...m.extensions] };
    }),
    modelMetadata: unary<ModelMetadataRequest, ModelMetadataResponse>('ModelMetadata', log, calls, async (req, ctx) =>
      modelMetadataToGrpc(await oip.modelMetadata(req.name, req.version, ctx)),
    ),
    modelInfer: unary<ModelInferRequest, ModelInferResponse>('ModelInfer', log, calls, async (req, ctx) => {
      const { request, rawOutputs } = inferRequestFromGrpc(req);
      return inferResponseToGrpc(await oip.modelInfer(request, ctx), rawOutputs);
    }),
  };
}
