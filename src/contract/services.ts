/**
 * The contract's services as method tables: for each method its path, kind and codecs. The
 * generated definitions get the hot-path codecs swapped in (duplicate-aware, bounded request
 * decoders that never throw, direct response encoders), and every other decoder is made safe
 * (bad bytes become INVALID_ARGUMENT). Both transports use these tables: the gRPC server
 * registers them, and the in-process REST gateway decodes and encodes with them.
 */
import { GRPCInferenceServiceService } from '../gen/inference/grpc_predict_v2.js';
import { PredictionServiceService } from '../gen/quiver/v1/prediction.js';
import { RegistryServiceService } from '../gen/quiver/v1/registry.js';
import {
  DEFAULT_DECODE_LIMITS,
  type DecodeLimits,
  decodeBatchPredictRequest,
  decodePredictRequest,
  decodePredictStreamRequest,
  safely,
} from './codec.js';
import { encodeBatchPredictResponse, encodePredictResponse, encodePredictStreamResponse } from './encode.js';

export const PREDICTION_SERVICE_NAME = 'quiver.v1.PredictionService';
export const REGISTRY_SERVICE_NAME = 'quiver.v1.RegistryService';
export const OIP_SERVICE_NAME = 'inference.GRPCInferenceService';

/** Features or input tensors in one instance; far above any real model's input count. */
export const MAX_MAP_ENTRIES = 65536;

/** The decode limits for a server that takes at most `maxRequestRows` instances per request. */
export const decodeLimits = (maxRequestRows: number): DecodeLimits => ({ maxInstances: maxRequestRows, maxMapEntries: MAX_MAP_ENTRIES });

/** Every request decoder of a generated definition made safe. */
function safeDefinition<D extends Record<string, { requestDeserialize: (b: Buffer) => unknown }>>(definition: D): D {
  const def: Record<string, object> = {};
  for (const [name, method] of Object.entries(definition)) def[name] = { ...method, requestDeserialize: safely(method.requestDeserialize) };
  return def as D;
}

export function predictionServiceDefinition(limits: DecodeLimits = DEFAULT_DECODE_LIMITS) {
  const safe = safeDefinition(PredictionServiceService);
  return {
    ...safe,
    predict: {
      ...PredictionServiceService.predict,
      requestDeserialize: safely((b) => decodePredictRequest(b, limits)),
      responseSerialize: encodePredictResponse,
    },
    batchPredict: {
      ...PredictionServiceService.batchPredict,
      requestDeserialize: safely((b) => decodeBatchPredictRequest(b, limits)),
      responseSerialize: encodeBatchPredictResponse,
    },
    predictStream: {
      ...PredictionServiceService.predictStream,
      requestDeserialize: safely((b) => decodePredictStreamRequest(b, limits)),
      responseSerialize: encodePredictStreamResponse,
    },
  } as const;
}

export const registryServiceDefinition = () => safeDefinition(RegistryServiceService);

export const oipServiceDefinition = () => safeDefinition(GRPCInferenceServiceService);
