/**
 * The one handler set a server process runs: PredictionService, the OIP and (with a
 * registry) RegistryService. The gRPC server (src/grpc/server.ts) and the in-process REST
 * gateway (gateway/direct-invoker.ts, gateway/oip.ts, gateway/prediction.ts) serve these same
 * objects.
 */
import type { InferenceCore } from '../core/inference.js';
import type { Feedback } from '../feedback/feedback.js';
import type { GetStatsResponse } from '../gen/quiver/v1/prediction.js';
import type { Logger } from 'pino';
import { type OipHandlers, oipHandlers } from './oip.js';
import { type PredictionHandlers, predictionHandlers } from './prediction.js';
import { type RegistryHandlers, registryHandlers, type RegistryServiceDeps } from './registry.js';

export interface HandlerSet {
  readonly prediction: PredictionHandlers;
  readonly oip: OipHandlers;
  /** Absent when the process has no registry. */
  readonly registry: RegistryHandlers | undefined;
}

export interface HandlerSetDeps {
  readonly core: InferenceCore;
  readonly log: Logger;
  /** GetStats' answer for a model ('' for all). */
  readonly stats: (modelName: string) => GetStatsResponse;
  /** Whether the server is serving (models loaded, not draining): the OIP's readiness. */
  readonly serving: () => boolean;
  readonly registry?: RegistryServiceDeps | undefined;
  /** The prediction log and its outcomes; absent without a registry. */
  readonly feedback?: Feedback | undefined;
}

export function handlerSet(deps: HandlerSetDeps): HandlerSet {
  return {
    prediction: predictionHandlers(deps.core, deps.log.child({ component: 'prediction' }), deps.stats, deps.feedback),
    oip: oipHandlers(deps.core, { serving: deps.serving }),
    registry: deps.registry === undefined ? undefined : registryHandlers(deps.registry),
  };
}
