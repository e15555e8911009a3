/**
 * quiver.v1.RegistryService over gRPC: the contract's method table (src/contract/services.ts)
 * served by the one handler set (src/handlers/registry.ts) through the adapter in calls.ts.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';

import { registryServiceDefinition } from '../contract/services.js';
import type { ServiceHandlers } from '../handlers/handler.js';
import type { RegistryHandlers } from '../handlers/registry.js';
import { type Adapter, grpcImplementation } from './calls.js';

export function registryService(handlers: RegistryHandlers, adapter: Adapter): UntypedServiceImplementation {
  return grpcImplementation(registryServiceDefinition(), handlers as unknown as ServiceHandlers, adapter);
}
