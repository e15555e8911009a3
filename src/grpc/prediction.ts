/**
 * quiver.v1.PredictionService over gRPC: the contract's method table (src/contract/services.ts)
 * served by the one handler set (src/handlers/prediction.ts) through the adapter in calls.ts.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';

import type { DecodeLimits } from '../contract/codec.js';
import { predictionServiceDefinition } from '../contract/services.js';
import type { ServiceHandlers } from '../handlers/handler.js';
import type { PredictionHandlers } from '../handlers/prediction.js';
import { type Adapter, grpcImplementation } from './calls.js';

export function predictionService(handlers: PredictionHandlers, adapter: Adapter, limits: DecodeLimits): UntypedServiceImplementation {
  return grpcImplementation(predictionServiceDefinition(limits), handlers as unknown as ServiceHandlers, adapter);
}
