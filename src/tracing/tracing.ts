/**
 * OpenTelemetry tracing (@opentelemetry/sdk-node), configured by the standard OTEL_*
 * variables and off unless they ask for it: OTEL_TRACES_EXPORTER (otlp, console, ...) or an
 * OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
 * OTEL_SDK_DISABLED=true wins. When off, no SDK starts and requests make no spans at all.
 *
 * Each RPC (and REST request) gets a server span continuing the caller's W3C trace context
 * (`traceparent` in gRPC metadata or HTTP headers), with children for validation, the wait in
 * the batch queue and the batch's inference.
 */
import { context, propagation, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

import type { TraceHook } from '../core/context.js';

export interface Tracing {
  readonly tracer: Tracer;
  shutdown(): Promise<void>;
}

/** Whether the environment asks for traces. */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_SDK_DISABLED ?? '').toLowerCase() === 'true') return false;
  const exporter = (env.OTEL_TRACES_EXPORTER ?? '').toLowerCase();
  if (exporter !== '') return exporter !== 'none';
  return (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '' || (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '';
}

/**
 * Starts the SDK. `exporter` (tests) replaces what the environment would configure; the
 * environment's exporter otherwise (OTLP over HTTP/protobuf by default).
 */
export function startTracing(options: { exporter?: SpanExporter } = {}): Tracing {
  const spanProcessors: SpanProcessor[] | undefined =
    options.exporter === undefined ? undefined : [new SimpleSpanProcessor(options.exporter)];
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? 'quiver',
    instrumentations: [],
    ...(spanProcessors === undefined ? {} : { spanProcessors }),
  });
  sdk.start();
  return {
    tracer: trace.getTracer('quiver'),
    shutdown: () => sdk.shutdown(),
  };
}

type Carrier = Record<string, string | string[] | undefined> | { get(key: string): unknown[] };

const getter = {
  keys: (carrier: Carrier): string[] => ('get' in carrier && typeof carrier.get === 'function' ? [] : Object.keys(carrier)),
  get: (carrier: Carrier, key: string): string | string[] | undefined => {
    if ('get' in carrier && typeof carrier.get === 'function') {
      const values = (carrier.get as (k: string) => unknown[])(key);
      return values.length === 0 ? undefined : values.map(String);
    }
    return (carrier as Record<string, string | string[] | undefined>)[key];
  },
};

/** A server span for one call, continuing the caller's trace context from `carrier`. */
export function serverSpan(
  tracer: Tracer,
  name: string,
  carrier: Carrier,
  attributes: Record<string, string>,
): { span: Span; hook: TraceHook } {
  const parent = propagation.extract(ROOT_CONTEXT, carrier, getter);
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  const spanContext = trace.setSpan(context.active(), span);
  return {
    span,
    hook: {
      child(childName, startMs, endMs, childAttributes) {
        tracer.startSpan(childName, { startTime: startMs, attributes: childAttributes ?? {} }, spanContext).end(endMs);
      },
    },
  };
}

export function endSpan(span: Span, code: number, message?: string): void {
  span.setAttribute('rpc.grpc.status_code', code);
  if (code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, ...(message === undefined ? {} : { message }) });
  span.end();
}

/** Writes the span's W3C trace context into gRPC metadata, for the calls it makes. */
export function injectTraceContext(span: Span, metadata: { set(key: string, value: string): void }): void {
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), metadata, { set: (carrier, key, value) => carrier.set(key, value) });
}
