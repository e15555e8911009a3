/**
 * The blueprint's REST routes with its JSON shapes (snake_case, as its Flask API answered):
 * /health, /model-info, /predict, /predict/batch, /metrics, /stats, /reload-model.
 * /predict and /predict/batch call the prediction handlers directly when the gateway runs in
 * the server's process (the hot path), and the Predict/BatchPredict RPCs as a sidecar.
 */
import { clientText, echo, invalidArgument, type QuiverError } from '../src/core/errors.js';
import type { DecodedPredictRequest } from '../src/contract/codec.js';
import type { PredictResult } from '../src/core/inference.js';
import type { Tensor } from '../src/gen/quiver/v1/tensor.js';
import type { PredictionHandlers } from '../src/handlers/prediction.js';
import type { CallContext } from '../src/core/context.js';
import type { InstanceInput } from '../src/core/validate.js';
import {
  BatchPredictRequest,
  BatchPredictResponse,
  PredictRequest,
  PredictResponse,
  type PredictResponse as WirePrediction,
} from '../src/gen/quiver/v1/prediction.js';
import type { CallOptions, Invoker } from './invoker.js';

export interface Prediction {
  readonly prediction: number;
  readonly probability: number;
  readonly probabilities: readonly number[];
  readonly model_name: string;
  readonly model_version: string;
  readonly id?: string;
}

function fromCore(r: PredictResult): Prediction {
  return {
    prediction: r.prediction,
    probability: r.probability,
    probabilities: r.probabilities,
    model_name: r.modelName,
    model_version: r.modelVersion,
    ...(r.id === '' ? {} : { id: r.id }),
  };
}

function fromWire(r: WirePrediction): Prediction {
  return {
    prediction: r.prediction,
    probability: r.probability,
    probabilities: r.probabilities,
    model_name: r.modelName,
    model_version: r.modelVersion,
    ...(r.id === '' ? {} : { id: r.id }),
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The bounds checked before any per-item work; the defaults are the server's. */
export interface BlueprintLimits {
  /** Items in one /predict/batch (the server's maxRequestRows). */
  readonly maxRequestRows: number;
  /** Features in one item (the gRPC decoder's map entry limit). */
  readonly maxFeatures: number;
}

export const DEFAULT_BLUEPRINT_LIMITS: BlueprintLimits = { maxRequestRows: 8192, maxFeatures: 65536 };

/** The blueprint's `{"features": {...}}`, checked: an object of numbers. */
export function featuresOf(v: unknown, where: string, maxFeatures = DEFAULT_BLUEPRINT_LIMITS.maxFeatures): Map<string, number> {
  if (!isObject(v)) throw invalidArgument(`${where}: expected an object of feature name to number`);
  const out = new Map<string, number>();
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    if (out.size >= maxFeatures)
      throw invalidArgument(`${where}: ${Object.keys(v).length} features is over the limit of ${maxFeatures} per instance`);
    const x = v[k];
    if (typeof x !== 'number')
      throw invalidArgument(
        `${where}.${echo(k)}: expected a number, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : `a ${typeof x}`}`,
      );
    out.set(k, x);
  }
  return out;
}

function stringField(body: Record<string, unknown>, names: string[], fallback: string): string {
  for (const n of names) {
    const v = body[n];
    if (v === undefined || v === null) continue;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && n.includes('version')) return String(v);
    throw invalidArgument(`${n}: expected a string, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`}`);
  }
  return fallback;
}

const KNOWN_PREDICT = new Set(['features', 'model', 'model_name', 'model_version', 'id']);
const KNOWN_BATCH = new Set(['requests', 'model', 'model_name', 'model_version']);

function checkKeys(body: Record<string, unknown>, known: Set<string>): void {
  for (const k in body) {
    if (Object.hasOwn(body, k) && !known.has(k)) throw invalidArgument(`${echo(k)}: unknown field (expected ${[...known].join(', ')})`);
  }
}

/** `options` builds the RPC options, for the backend that calls RPCs (the in-process one never does). */
export interface PredictBackend {
  predict(body: unknown, ctx: CallContext, options: () => CallOptions): Promise<Prediction>;
  predictBatch(body: unknown, ctx: CallContext, options: () => CallOptions): Promise<unknown>;
}

function parsePredict(
  body: unknown,
  defaultModel: string,
  limits: BlueprintLimits,
): { model: string; version: string; features: Map<string, number>; id: string } {
  if (!isObject(body)) throw invalidArgument('request body: expected a JSON object like {"features": {"feature_0": 1.5, ...}}');
  checkKeys(body, KNOWN_PREDICT);
  if (body.features === undefined) throw invalidArgument('features: required, an object of feature name to number');
  return {
    model: stringField(body, ['model_name', 'model'], defaultModel),
    version: stringField(body, ['model_version'], ''),
    features: featuresOf(body.features, 'features', limits.maxFeatures),
    id: stringField(body, ['id'], ''),
  };
}

function parseBatch(
  body: unknown,
  defaultModel: string,
  limits: BlueprintLimits,
): { model: string; version: string; items: Array<{ input: InstanceInput; id: string }> } {
  if (!isObject(body)) throw invalidArgument('request body: expected a JSON object like {"requests": [{"features": {...}}, ...]}');
  checkKeys(body, KNOWN_BATCH);
  if (!Array.isArray(body.requests)) throw invalidArgument('requests: required, an array of {"features": {...}}');
  // The count before any per-item work: 2M items must not become 2M error objects first.
  if (body.requests.length > limits.maxRequestRows) {
    throw invalidArgument(
      `requests: ${body.requests.length} instances is over the limit of ${limits.maxRequestRows} per request; split the batch`,
    );
  }
  const model = stringField(body, ['model_name', 'model'], defaultModel);
  const version = stringField(body, ['model_version'], '');
  const items = body.requests.map((r: unknown, i: number) => {
    try {
      if (!isObject(r)) throw invalidArgument(`requests[${i}]: expected an object like {"features": {...}}`);
      if (r.features === undefined) throw invalidArgument(`requests[${i}].features: required`);
      return {
        input: { kind: 'features', features: featuresOf(r.features, `requests[${i}].features`, limits.maxFeatures) } as InstanceInput,
        id: typeof r.id === 'string' ? r.id : '',
      };
    } catch (err) {
      return { input: { kind: 'invalid', error: err as Error } as InstanceInput, id: '' };
    }
  });
  return { model, version, items };
}

/**
 * In the server's process: a direct call of the prediction handlers (src/handlers/), with the
 * items already checked here; the invalid ones keep their error.
 */
export function handlerBackend(
  handlers: PredictionHandlers,
  defaultModel: string,
  limits: BlueprintLimits = DEFAULT_BLUEPRINT_LIMITS,
): PredictBackend {
  return {
    async predict(body, ctx) {
      const p = parsePredict(body, defaultModel, limits);
      const request: DecodedPredictRequest = {
        modelName: p.model,
        modelVersion: p.version,
        features: p.features,
        inputs: NO_INPUTS,
        id: p.id,
      };
      return fromCore(await handlers.predict(request, ctx));
    },
    async predictBatch(body, ctx) {
      const b = parseBatch(body, defaultModel, limits);
      const { valid, out } = partition(b.items);
      if (valid.length === 0) return { model_name: b.model, model_version: b.version, predictions: out };
      const r = await handlers.batchPredict(
        {
          modelName: b.model,
          modelVersion: b.version,
          requests: valid.map((v) => ({ features: v.features as Map<string, number>, inputs: NO_INPUTS, id: v.id })),
          dense: undefined,
        },
        ctx,
      );
      (r.items ?? []).forEach((item, i) => {
        out[(valid[i] as { index: number }).index] =
          item.result !== undefined ? fromCore(item.result) : itemError(item.error ?? new Error('internal error'));
      });
      return { model_name: r.modelName, model_version: r.modelVersion, predictions: out };
    },
  };
}

/** Never written to: the handlers only read a request. */
const NO_INPUTS = new Map<string, Tensor>();

/** A batch item's error as the blueprint's answer shows it. */
function itemError(error: Error, fallbackCode = 13): { error: { code: number; message: string } } {
  return { error: { code: (error as Partial<QuiverError>).grpcStatus ?? fallbackCode, message: clientText(error.message) } };
}

/**
 * A checked batch, split: the valid items to predict (with their place in the batch), and
 * the answers so far, where each invalid item already has its error (INVALID_ARGUMENT).
 */
function partition(items: ReadonlyArray<{ input: InstanceInput; id: string }>): {
  valid: Array<{ index: number; features: ReadonlyMap<string, number>; id: string }>;
  out: unknown[];
} {
  const valid = items.flatMap((item, index) =>
    item.input.kind === 'features' ? [{ index, features: item.input.features, id: item.id }] : [],
  );
  const out: unknown[] = items.map((item) => (item.input.kind === 'invalid' ? itemError(item.input.error, 3) : null));
  return { valid, out };
}

/** As a sidecar: through the Predict and BatchPredict RPCs. */
export function rpcBackend(invoker: Invoker, defaultModel: string, limits: BlueprintLimits = DEFAULT_BLUEPRINT_LIMITS): PredictBackend {
  return {
    async predict(body, _ctx, options) {
      const p = parsePredict(body, defaultModel, limits);
      const req = PredictRequest.fromPartial({ modelName: p.model, modelVersion: p.version, features: p.features, id: p.id });
      const bytes = await invoker.unary(
        '/quiver.v1.PredictionService/Predict',
        Buffer.from(PredictRequest.encode(req).finish()),
        options(),
      );
      return fromWire(PredictResponse.decode(bytes));
    },
    async predictBatch(body, _ctx, options) {
      const b = parseBatch(body, defaultModel, limits);
      // Items the gateway already found invalid keep their error; the rest go upstream.
      const { valid, out } = partition(b.items);
      let modelName = b.model;
      let modelVersion = b.version;
      if (valid.length > 0) {
        const req = BatchPredictRequest.fromPartial({
          modelName: b.model,
          modelVersion: b.version,
          requests: valid.map((v) => ({ features: new Map(v.features), id: v.id })),
        });
        const res = BatchPredictResponse.decode(
          await invoker.unary(
            '/quiver.v1.PredictionService/BatchPredict',
            Buffer.from(BatchPredictRequest.encode(req).finish()),
            options(),
          ),
        );
        modelName = res.modelName;
        modelVersion = res.modelVersion;
        res.responses.forEach((item, i) => {
          out[(valid[i] as { index: number }).index] =
            item.result !== undefined && (item.status?.code ?? 0) === 0
              ? fromWire(item.result)
              : { error: { code: item.status?.code ?? 13, message: clientText(item.status?.message ?? '') } };
        });
      }
      return { model_name: modelName, model_version: modelVersion, predictions: out };
    },
  };
}
