/**
 * The shapes of a handler, one per RPC kind, in the manner of connect-es: plain async
 * functions over the contract's typed messages and a protocol-neutral CallContext. The
 * transports (src/grpc/ for gRPC, gateway/ for REST) adapt their calls to these; a handler
 * never sees a transport's types.
 *
 * A streaming handler's requests are the safe decoder's output: a message, or an
 * UndecodableRequest the handler answers as its protocol says (src/contract/codec.ts).
 */
import type { CallContext } from '../core/context.js';

export type UnaryHandler<I, O> = (request: I, ctx: CallContext) => Promise<O> | O;
export type ClientStreamHandler<I, O> = (requests: AsyncIterable<I>, ctx: CallContext) => Promise<O>;
export type ServerStreamHandler<I, O> = (request: I, ctx: CallContext) => AsyncIterable<O>;
export type BidiStreamHandler<I, O> = (requests: AsyncIterable<I>, ctx: CallContext) => AsyncIterable<O>;

/** Any handler, as a transport's generic adapter holds it (the method's definition says which kind). */
export type AnyHandler = (input: never, ctx: CallContext) => unknown;

/** A service's handlers by the contract's method name (lowerCamelCase, as the generated definitions name them). */
export type ServiceHandlers = Readonly<Record<string, AnyHandler>>;
