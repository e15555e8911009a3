/**
 * The protocol served by a remote Quiver (or any OIP v2 gRPC server): what the REST form
 * uses when the gateway runs as a sidecar. Inputs travel as raw_input_contents (exact for
 * every datatype), the request's deadline and cancellation travel with each call, and a
 * failed call becomes an UpstreamError carrying the HTTP status of its `quiver-error-code`
 * trailer (or, from a server that sends none, of its gRPC code).
 */
import { type CallOptions, type ClientUnaryCall, Metadata, type ServiceError } from '@grpc/grpc-js';

import type { CallContext } from '../src/core/context.js';
import type {
  GRPCInferenceServiceClient,
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataRequest,
  ModelMetadataResponse,
  ModelReadyRequest,
  ModelReadyResponse,
  ServerLiveRequest,
  ServerLiveResponse,
  ServerMetadataRequest,
  ServerMetadataResponse,
  ServerReadyRequest,
  ServerReadyResponse,
} from '../src/gen/inference/grpc_predict_v2.js';
import { ERROR_CODE_KEY, httpStatusOfAnswer } from '../src/core/errors.js';
import { inferRequestToGrpc, inferResponseFromGrpc } from '../src/contract/oip-grpc.js';
import type { OipHandlers } from '../src/handlers/oip.js';

/** A call the upstream server answered with a non-OK status. */
export class UpstreamError extends Error {
  readonly httpStatus: number;

  constructor(
    readonly grpcCode: number,
    message: string,
    quiverCode?: unknown,
  ) {
    super(message);
    this.name = 'UpstreamError';
    this.httpStatus = httpStatusOfAnswer(grpcCode, quiverCode);
  }
}

type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<CallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

function call<Req, Res>(fn: Unary<Req, Res>, req: Req, ctx: CallContext): Promise<Res> {
  return new Promise((resolve, reject) => {
    const opts: Partial<CallOptions> = Number.isFinite(ctx.deadline) ? { deadline: ctx.deadline } : {};
    let off = (): void => undefined;
    const c = fn(req, new Metadata(), opts, (err, res) => {
      off();
      if (err === null) resolve(res);
      else reject(new UpstreamError(err.code, err.details || err.message, err.metadata?.get(ERROR_CODE_KEY)[0]));
    });
    off = ctx.onCancel(() => c.cancel());
  });
}

/** @param client a client of the upstream server (the caller owns it and closes it). */
export function upstreamOipHandlers(client: GRPCInferenceServiceClient): OipHandlers {
  const fn = <Req, Res>(method: unknown): Unary<Req, Res> => (method as Unary<Req, Res>).bind(client);
  return {
    serverLive: async (ctx) => (await call(fn<ServerLiveRequest, ServerLiveResponse>(client.serverLive), {}, ctx)).live,
    serverReady: async (ctx) => (await call(fn<ServerReadyRequest, ServerReadyResponse>(client.serverReady), {}, ctx)).ready,
    modelReady: async (name, version, ctx) =>
      (await call(fn<ModelReadyRequest, ModelReadyResponse>(client.modelReady), { name, version }, ctx)).ready,
    serverMetadata: (ctx) => call(fn<ServerMetadataRequest, ServerMetadataResponse>(client.serverMetadata), {}, ctx),
    modelMetadata: (name, version, ctx) =>
      call(fn<ModelMetadataRequest, ModelMetadataResponse>(client.modelMetadata), { name, version }, ctx),
    modelInfer: async (req, ctx) =>
      inferResponseFromGrpc(await call(fn<ModelInferRequest, ModelInferResponse>(client.modelInfer), inferRequestToGrpc(req), ctx)),
  };
}
