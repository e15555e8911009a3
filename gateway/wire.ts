/** Messages the gateway builds itself: the generated quiver ones, and grpc.health.v1's two tiny ones. */
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';

export {
  GetModelMetadataRequest,
  GetModelMetadataResponse,
  ListModelsRequest,
  ListModelsResponse,
  GetStatsRequest,
  GetStatsResponse,
  RecordOutcomesRequest,
  RecordOutcomesResponse,
} from '../src/gen/quiver/v1/prediction.js';
export { GetVersionRequest, GetVersionResponse, ReloadModelRequest, ReloadModelResponse, Stage } from '../src/gen/quiver/v1/registry.js';

/** grpc.health.v1.HealthCheckRequest { string service = 1; } */
export const HealthCheckRequest = {
  encode(m: { service: string }): { finish(): Uint8Array } {
    const w = new BinaryWriter();
    if (m.service !== '') w.uint32(10).string(m.service);
    return w;
  },
};

/** grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; } (1 = SERVING). */
export const HealthCheckResponse = {
  decode(bytes: Uint8Array): { status: number } {
    const r = new BinaryReader(bytes);
    let status = 0;
    while (r.pos < r.len) {
      const tag = r.uint32();
      if (tag === 8) status = r.int32();
      else r.skip(tag & 7);
    }
    return { status };
  },
};
