/**
 * OpenTelemetry tracing: the trace SDK (@opentelemetry/sdk-trace-base) with an OTLP/HTTP
 * exporter, configured by the standard OTEL_* variables and off unless they ask for it:
 * OTEL_TRACES_EXPORTER (otlp, console, none) or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT /
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT). OTEL_SDK_DISABLED=true wins. When off, no SDK starts
 * and requests make no spans at all.
 *
 * Only what Quiver uses is loaded: no metrics or logs SDK, no gRPC or Zipkin exporter (the
 * all-in-one @opentelemetry/sdk-node pulled every exporter into the image). The variables it
 * reads: OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (http/protobuf, the
 * default, or http/json; grpc is refused), the exporter's own OTEL_EXPORTER_OTLP_* (endpoint,
 * headers, timeout, compression), OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*, OTEL_SPAN_*_LIMIT,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_PROPAGATORS (tracecontext, baggage) and
 * OTEL_LOG_LEVEL.
 *
 * Each RPC (and REST request) gets a server span continuing the caller's W3C trace context
 * (`traceparent` in gRPC metadata or HTTP headers), with children for validation, the wait in
 * the batch queue and the batch's inference.
 *
 * Sampling: unless OTEL_TRACES_SAMPLER names a sampler, parent-based with a ratio of
 * DEFAULT_SAMPLE_RATIO for calls that arrive without a trace context (the SDK's own default
 * records every call, which halved Predict's throughput at c=64 in docs/benchmarks.md). A
 * caller's sampled context is always followed. A call that is not sampled records nothing: no
 * child spans, no timestamps taken for them.
 */
import {
  context,
  DiagConsoleLogger,
  diag,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { CompositePropagator, diagLogLevelFromString, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import type { SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';

import type { TraceHook } from '../core/context.js';

/** The share of calls without a caller's trace context that are traced, unless OTEL_TRACES_SAMPLER says otherwise. */
export const DEFAULT_SAMPLE_RATIO = 0.01;

/** The sampler when OTEL_TRACES_SAMPLER names none; undefined lets the SDK read the variables. */
function defaultSampler(env: NodeJS.ProcessEnv): Sampler | undefined {
  if ((env.OTEL_TRACES_SAMPLER ?? '').trim() !== '') return undefined;
  return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(DEFAULT_SAMPLE_RATIO) });
}

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

const list = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '' && s !== 'null');

/** The OTLP exporter for OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL: HTTP only, protobuf by default. */
function otlpExporter(env: NodeJS.ProcessEnv): SpanExporter {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || env.OTEL_EXPORTER_OTLP_PROTOCOL || 'http/protobuf').trim();
  if (protocol === 'http/protobuf') return new OTLPProtoTraceExporter();
  if (protocol === 'http/json') return new OTLPJsonTraceExporter();
  throw new Error(
    `OTLP protocol ${protocol} is not supported: Quiver exports traces over OTLP/HTTP (http/protobuf or http/json, port 4318)`,
  );
}

/** Span processors for OTEL_TRACES_EXPORTER (otlp by default; console for debugging). */
function processorsFromEnv(env: NodeJS.ProcessEnv): SpanProcessor[] {
  const names = [...new Set(list(env.OTEL_TRACES_EXPORTER))];
  const wanted = names.length === 0 || (names.length > 1 && names.includes('none')) ? ['otlp'] : names;
  const processors: SpanProcessor[] = [];
  for (const name of wanted) {
    if (name === 'otlp') processors.push(new BatchSpanProcessor(otlpExporter(env)));
    else if (name === 'console') processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
    else if (name !== 'none') diag.warn(`OTEL_TRACES_EXPORTER ${name} is not supported (otlp, console, none)`);
  }
  return processors;
}

/** The propagator for OTEL_PROPAGATORS: W3C trace context and baggage by default. */
function propagatorFromEnv(env: NodeJS.ProcessEnv): TextMapPropagator | undefined {
  const names = list(env.OTEL_PROPAGATORS);
  if (names.includes('none')) return undefined;
  const factories: Record<string, () => TextMapPropagator> = {
    tracecontext: () => new W3CTraceContextPropagator(),
    baggage: () => new W3CBaggagePropagator(),
  };
  const propagators = (names.length === 0 ? ['tracecontext', 'baggage'] : [...new Set(names)]).flatMap((name) => {
    if (factories[name] !== undefined) return [factories[name]()];
    diag.warn(`OTEL_PROPAGATORS ${name} is not supported (tracecontext, baggage)`);
    return [];
  });
  return new CompositePropagator({ propagators });
}

/**
 * Starts the SDK. `exporter` (tests) replaces what the environment would configure; the
 * environment's exporter otherwise (OTLP over HTTP/protobuf by default).
 */
export function startTracing(options: { exporter?: SpanExporter } = {}): Tracing {
  // process.env, which the OTLP exporters read too.
  const env = process.env;
  const logLevel = env.OTEL_LOG_LEVEL;
  if (logLevel !== undefined && logLevel !== '') diag.setLogger(new DiagConsoleLogger(), { logLevel: diagLogLevelFromString(logLevel) });
  const spanProcessors = options.exporter === undefined ? processorsFromEnv(env) : [new SimpleSpanProcessor(options.exporter)];
  // The resource: the SDK's defaults, then OTEL_RESOURCE_ATTRIBUTES, the process and the host;
  // service.name is OTEL_SERVICE_NAME, else quiver.
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector, processDetector, hostDetector] }))
    .merge(resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME || 'quiver' }));
  // The sampler: OTEL_TRACES_SAMPLER[_ARG] when set (read by the SDK, as are the span limits).
  const sampler = defaultSampler(env);
  const provider = new BasicTracerProvider({ resource, spanProcessors, ...(sampler === undefined ? {} : { sampler }) });
  const registered = trace.setGlobalTracerProvider(provider);
  const propagator = propagatorFromEnv(env);
  const propagating = propagator !== undefined && propagation.setGlobalPropagator(propagator);
  return {
    tracer: provider.getTracer('quiver'),
    shutdown: async () => {
      await provider.shutdown();
      // Unregistered, a later start (tests start several servers in one process) registers anew.
      if (registered) trace.disable();
      if (propagating) propagation.disable();
    },
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

/**
 * A server span for one call, continuing the caller's trace context from `carrier`. The hook
 * records child spans; it is undefined when the call is not sampled, so the core skips them.
 */
export function serverSpan(
  tracer: Tracer,
  name: string,
  carrier: Carrier,
  attributes: Record<string, string>,
): { span: Span; hook: TraceHook | undefined } {
  const parent = propagation.extract(ROOT_CONTEXT, carrier, getter);
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  if (!span.isRecording()) return { span, hook: undefined };
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
