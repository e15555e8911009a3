/**
 * The in-process REST gateway's way to the services: a direct call of the one handler set
 * (src/handlers/). The checked JSON arrives as the request message's bytes (transcode.ts
 * encodes it with the generated codec), is decoded by the same decoder a gRPC call's bytes
 * get (src/contract/services.ts: duplicate-aware, bounded), goes through the same access
 * check, and the handler's answer is encoded as a gRPC answer would be. No socket, no HTTP/2,
 * no grpc-js call: streaming RPCs are async iterables in and out, so a request's cost grows
 * with its body and nothing else.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import * as grpc from '@grpc/grpc-js';

import { type AccessPolicy, isLocalPeer, scopeOfRpc } from '../src/auth/policy.js';
import type { Scope } from '../src/auth/tokens.js';
import { ensureDecoded } from '../src/contract/codec.js';
import { predictionServiceDefinition, registryServiceDefinition } from '../src/contract/services.js';
import type { DecodeLimits } from '../src/contract/codec.js';
import { CallContext } from '../src/core/context.js';
import { metadataView } from '../src/grpc/calls.js';
import type { AnyHandler, ServiceHandlers } from '../src/handlers/handler.js';
import type { HandlerSet } from '../src/handlers/handler-set.js';
import { type CallOptions, GrpcCallError, type Invoker } from './invoker.js';

interface MethodShape {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  readonly responseSerialize: (value: never) => Buffer;
}

interface DirectMethod {
  readonly definition: MethodShape;
  readonly handler: AnyHandler;
  /** Its access rule (src/auth/policy.ts), found once; undefined: open. */
  readonly scope: Scope | undefined;
}

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

/** grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; }: 1 SERVING, 2 NOT_SERVING. */
function healthResponse(serving: boolean): Buffer {
  return Buffer.from(
    new BinaryWriter()
      .uint32(8)
      .int32(serving ? 1 : 2)
      .finish(),
  );
}

export class DirectInvoker implements Invoker {
  private readonly methods = new Map<string, DirectMethod>();

  /**
   * @param serving the server's health ('' service): what grpc.health.v1's Check answers.
   */
  // The OIP's REST form is not transcoded: gateway/oip.ts calls its handlers itself.
  constructor(
    handlers: HandlerSet,
    limits: DecodeLimits,
    private readonly access: AccessPolicy,
    private readonly serving: () => boolean,
  ) {
    this.add(predictionServiceDefinition(limits), handlers.prediction as unknown as ServiceHandlers);
    if (handlers.registry !== undefined) this.add(registryServiceDefinition(), handlers.registry as unknown as ServiceHandlers);
  }

  private add(definition: Readonly<Record<string, MethodShape>>, handlers: ServiceHandlers): void {
    for (const [name, method] of Object.entries(definition)) {
      const handler = handlers[name];
      if (handler !== undefined) this.methods.set(method.path, { definition: method, handler, scope: scopeOfRpc(method.path) });
    }
  }

  private method(path: string): DirectMethod {
    const method = this.methods.get(path);
    if (method === undefined) throw new GrpcCallError(grpc.status.UNIMPLEMENTED, `no method ${path}`, new grpc.Metadata());
    return method;
  }

  /** The call's context, after the access check of its plane (src/auth/policy.ts), as a gRPC call gets it. */
  private context(path: string, scope: Scope | undefined, options: CallOptions): CallContext {
    const authorization = options.metadata.get('authorization')[0];
    const principal =
      scope === undefined
        ? undefined
        : this.access.authorize(
            scope,
            authorization === undefined ? undefined : String(authorization),
            isLocalPeer(options.peer),
            path.slice(1),
          );
    const ctx = new CallContext(options.deadline, metadataView(options.metadata), principal);
    if (options.trace !== undefined) ctx.trace = options.trace;
    if (options.signal.aborted) ctx.cancel();
    else options.signal.addEventListener('abort', () => ctx.cancel(), { once: true });
    return ctx;
  }

  async unary(path: string, request: Buffer, options: CallOptions): Promise<Buffer> {
    if (path === HEALTH_CHECK) return healthResponse(this.serving());
    const { definition, handler, scope } = this.method(path);
    const ctx = this.context(path, scope, options);
    const answer = await (handler as (r: unknown, c: CallContext) => unknown)(ensureDecoded(definition.requestDeserialize(request)), ctx);
    return definition.responseSerialize(answer as never);
  }

  async stream(
    path: string,
    kind: 'client' | 'server' | 'bidi',
    requests: Buffer[],
    options: CallOptions,
    onMessage: (b: Buffer) => void,
  ): Promise<void> {
    const { definition, handler, scope } = this.method(path);
    const ctx = this.context(path, scope, options);
    const encode = (answer: unknown): Buffer => definition.responseSerialize(answer as never);
    async function* messages(): AsyncGenerator<unknown> {
      for (const bytes of requests) yield definition.requestDeserialize(bytes);
    }
    if (kind === 'client') {
      onMessage(encode(await (handler as (r: AsyncIterable<unknown>, c: CallContext) => Promise<unknown>)(messages(), ctx)));
      return;
    }
    const answers =
      kind === 'server'
        ? (handler as (r: unknown, c: CallContext) => AsyncIterable<unknown>)(
            ensureDecoded(definition.requestDeserialize(requests[0] ?? Buffer.alloc(0))),
            ctx,
          )
        : (handler as (r: AsyncIterable<unknown>, c: CallContext) => AsyncIterable<unknown>)(messages(), ctx);
    for await (const answer of answers) onMessage(encode(answer));
  }

  close(): void {
    // Nothing to close: no connection.
  }
}
