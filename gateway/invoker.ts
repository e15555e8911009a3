/**
 * How the gateway reaches the services. In process (the default), DirectInvoker
 * (direct-invoker.ts) calls the one handler set; as a sidecar, RemoteInvoker calls the
 * remote upstream with a grpc-js client, each plane at its own address (PlaneRoutingInvoker).
 * Both speak bytes: the gateway encodes the checked JSON with the generated codecs and
 * decodes the answer the same way.
 */
import * as grpc from '@grpc/grpc-js';

import type { TraceHook } from '../src/core/context.js';

export interface CallOptions {
  readonly metadata: grpc.Metadata;
  /** Epoch ms, or Infinity. */
  readonly deadline: number;
  /** Fires when the HTTP client goes away. */
  readonly signal: AbortSignal;
  /** The HTTP client's address: the registry's "local clients only" rule reads it (in process). */
  readonly peer?: string | undefined;
  /** The HTTP request's trace, which an in-process call continues. */
  readonly trace?: TraceHook | undefined;
}

export class GrpcCallError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
    readonly metadata: grpc.Metadata,
  ) {
    super(details);
  }
}

const identity = (b: Buffer): Buffer => b;

function asCallError(err: Partial<grpc.ServiceError> | null | undefined): GrpcCallError {
  return new GrpcCallError(
    err?.code ?? grpc.status.UNKNOWN,
    err?.details ?? err?.message ?? 'unknown error',
    err?.metadata ?? new grpc.Metadata(),
  );
}

export interface Invoker {
  unary(path: string, request: Buffer, options: CallOptions): Promise<Buffer>;
  /** Streams: requests in (NDJSON lines already encoded), responses out through `onMessage`. */
  stream(
    path: string,
    kind: 'client' | 'server' | 'bidi',
    requests: Buffer[],
    options: CallOptions,
    onMessage: (b: Buffer) => void,
  ): Promise<void>;
  close(): void;
}

/** A grpc-js client for any method, with bytes in and out. */
export class RemoteInvoker implements Invoker {
  private readonly client: grpc.Client;

  constructor(address: string, credentials = grpc.credentials.createInsecure(), options: grpc.ClientOptions = {}) {
    this.client = new grpc.Client(address, credentials, { 'grpc.max_receive_message_length': 64 * 1024 * 1024, ...options });
  }

  unary(path: string, request: Buffer, options: CallOptions): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const call = this.client.makeUnaryRequest(
        path,
        identity,
        identity,
        request,
        options.metadata,
        { deadline: options.deadline },
        (err, res) => (err ? reject(asCallError(err)) : resolve(res as Buffer)),
      );
      options.signal.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  stream(
    path: string,
    kind: 'client' | 'server' | 'bidi',
    requests: Buffer[],
    options: CallOptions,
    onMessage: (b: Buffer) => void,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const callOptions = { deadline: options.deadline };
      if (kind === 'client') {
        const call = this.client.makeClientStreamRequest(path, identity, identity, options.metadata, callOptions, (err, res) => {
          if (err) reject(asCallError(err));
          else {
            onMessage(res as Buffer);
            resolve();
          }
        });
        options.signal.addEventListener('abort', () => call.cancel(), { once: true });
        for (const r of requests) call.write(r);
        call.end();
        return;
      }
      const call =
        kind === 'server'
          ? this.client.makeServerStreamRequest(path, identity, identity, requests[0] ?? Buffer.alloc(0), options.metadata, callOptions)
          : this.client.makeBidiStreamRequest(path, identity, identity, options.metadata, callOptions);
      options.signal.addEventListener('abort', () => call.cancel(), { once: true });
      call.on('data', (b: Buffer) => onMessage(b));
      call.on('error', (err: grpc.ServiceError) => reject(asCallError(err)));
      call.on('end', () => resolve());
      if (kind === 'bidi') {
        const duplex = call as grpc.ClientDuplexStream<Buffer, Buffer>;
        for (const r of requests) duplex.write(r);
        duplex.end();
      }
    });
  }

  close(): void {
    this.client.close();
  }
}

/** Sends RegistryService calls to the registry plane's address and everything else to the inference plane's. */
export class PlaneRoutingInvoker implements Invoker {
  constructor(
    private readonly inference: Invoker,
    private readonly registry: Invoker | undefined,
  ) {}

  private pick(path: string): Invoker {
    return path.startsWith('/quiver.v1.RegistryService/') && this.registry !== undefined ? this.registry : this.inference;
  }

  unary(path: string, request: Buffer, options: CallOptions): Promise<Buffer> {
    return this.pick(path).unary(path, request, options);
  }

  stream(
    path: string,
    kind: 'client' | 'server' | 'bidi',
    requests: Buffer[],
    options: CallOptions,
    onMessage: (b: Buffer) => void,
  ): Promise<void> {
    return this.pick(path).stream(path, kind, requests, options, onMessage);
  }

  close(): void {
    this.inference.close();
    this.registry?.close();
  }
}
