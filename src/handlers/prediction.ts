/**
 * quiver.v1.PredictionService, once for every transport: gRPC (src/grpc/prediction.ts) and
 * REST (gateway/prediction.ts and the transcoded bindings) call these same functions.
 */
import type { Logger } from 'pino';

import {
  ensureDecoded,
  type DecodedBatchPredictRequest,
  type DecodedInstance,
  type DecodedPredictRequest,
  type DecodedPredictStreamRequest,
  type UndecodableRequest,
} from '../contract/codec.js';
import { isEmptyTensor, tensorToHost, toWireDataType } from '../contract/convert.js';
import type { BatchWire, StreamItem } from '../contract/encode.js';
import type { CallContext } from '../core/context.js';
import { newPredictionId } from '../core/request-id.js';
import { failedPrecondition, invalidArgument, toQuiverError } from '../core/errors.js';
import type { InferenceCore, PredictResult } from '../core/inference.js';
import type { Feedback } from '../feedback/feedback.js';
import type { LoadedVersion } from '../core/model-manager.js';
import type { HostTensor } from '../core/tensor.js';
import type { InstanceInput } from '../core/validate.js';
import {
  type GetModelMetadataRequest,
  type GetModelMetadataResponse,
  type GetStatsRequest,
  type GetStatsResponse,
  type ListModelsResponse,
  ModelTask,
  type RecordOutcomesRequest,
  type RecordOutcomesResponse,
} from '../gen/quiver/v1/prediction.js';
import type { Tensor } from '../gen/quiver/v1/tensor.js';
import type { BidiStreamHandler, UnaryHandler } from './handler.js';

export interface PredictionHandlers {
  readonly predict: UnaryHandler<DecodedPredictRequest, PredictResult>;
  readonly batchPredict: UnaryHandler<DecodedBatchPredictRequest, BatchWire>;
  readonly predictStream: BidiStreamHandler<DecodedPredictStreamRequest | UndecodableRequest, StreamItem>;
  readonly getModelMetadata: UnaryHandler<GetModelMetadataRequest, GetModelMetadataResponse>;
  readonly listModels: UnaryHandler<unknown, ListModelsResponse>;
  readonly getStats: UnaryHandler<GetStatsRequest, GetStatsResponse>;
  readonly recordOutcomes: UnaryHandler<RecordOutcomesRequest, RecordOutcomesResponse>;
}

export function instanceInput(msg: DecodedInstance, field: string): InstanceInput {
  const dupFeatures = msg.duplicates?.features;
  const hasFeatures = msg.features.size > 0 || dupFeatures !== undefined;
  const hasInputs = msg.inputs.size > 0;
  if (hasFeatures && hasInputs)
    throw invalidArgument(`${field === '' ? 'request' : field.slice(0, -1)}: give either features or inputs, not both`);
  if (hasInputs) {
    const dup = msg.duplicates?.inputs?.[0];
    if (dup !== undefined) throw invalidArgument(`${field}inputs: input '${dup}' is given more than once`);
    const inputs = new Map<string, HostTensor>();
    for (const [name, t] of msg.inputs) inputs.set(name, tensorToHost(t, `${field}inputs.${name}`));
    return { kind: 'tensors', inputs };
  }
  if (hasFeatures) {
    return dupFeatures === undefined
      ? { kind: 'features', features: msg.features }
      : { kind: 'features', features: msg.features, duplicates: dupFeatures };
  }
  return { kind: 'empty' };
}

const TASK: Record<string, ModelTask> = {
  classification: ModelTask.MODEL_TASK_CLASSIFICATION,
  regression: ModelTask.MODEL_TASK_REGRESSION,
  unspecified: ModelTask.MODEL_TASK_UNSPECIFIED,
};

export function metadataResponse(core: InferenceCore, v: LoadedVersion): GetModelMetadataResponse {
  const aliases = new Map<string, string>();
  for (const [alias, version] of core.models.aliasesOf(v.name)) aliases.set(alias, String(version));
  const spec = (t: { name: string; dtype: HostTensor['dtype']; dims: readonly number[] | null }) => ({
    name: t.name,
    datatype: toWireDataType(t.dtype),
    shape: t.dims === null ? [] : [...t.dims],
  });
  return {
    modelName: v.name,
    modelVersion: String(v.version),
    versions: core.models.versionsOf(v.name).map((x) => String(x.version)),
    platform: 'onnxruntime',
    inputs: v.signature.inputs.map(spec),
    outputs: v.signature.outputs.map(spec),
    featureNames: [...(v.signature.featureNames ?? [])],
    task: TASK[v.signature.task] ?? ModelTask.MODEL_TASK_UNSPECIFIED,
    classLabels: [...v.signature.classLabels],
    aliases,
    maxBatchRows: v.signature.batchable ? v.batcher.maxBatchRows : 1,
    metadata: new Map(Object.entries(v.signature.metadata)),
    sha256: v.sha256,
  };
}

function predictInput(req: DecodedPredictRequest) {
  return { modelName: req.modelName, modelVersion: req.modelVersion, input: instanceInput(req, ''), id: req.id };
}

/** Items in flight per stream before the handler stops reading requests. */
export const STREAM_WINDOW = 256;

/**
 * PredictStream: every request runs as it arrives (so a stream's requests batch together),
 * at most STREAM_WINDOW at a time; the answers leave in request order. A bad item is
 * answered with its error and the stream goes on.
 */
function predictStream(core: InferenceCore, log: Logger): PredictionHandlers['predictStream'] {
  const answer = async (msg: DecodedPredictStreamRequest | UndecodableRequest, ctx: CallContext): Promise<StreamItem> => {
    let id = '';
    try {
      const decoded = ensureDecoded(msg);
      if (decoded.request === undefined) throw invalidArgument('request: required');
      // Generated here rather than in the core, so that an item's error carries it too.
      id = decoded.request.id === '' ? newPredictionId() : decoded.request.id;
      return { result: await core.predict({ ...predictInput(decoded.request), id }, ctx), id };
    } catch (err) {
      const error = toQuiverError(err);
      if (error.code === 'QUIVER_ERR_INTERNAL') log.error({ err }, 'PredictStream item failed');
      return { error, id };
    }
  };
  return async function* (requests, ctx) {
    const pending: Array<Promise<StreamItem>> = [];
    let reading = true;
    let stopped = false;
    let failure: { error: unknown } | undefined;
    let wake: (() => void) | undefined;
    let room: (() => void) | undefined;
    const wakeAnswers = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const reader = (async () => {
      try {
        for await (const msg of requests) {
          pending.push(answer(msg, ctx));
          wakeAnswers();
          if (pending.length >= STREAM_WINDOW) await new Promise<void>((resolve) => (room = resolve));
          if (stopped) return;
        }
      } catch (error) {
        failure = { error };
      } finally {
        reading = false;
        wakeAnswers();
      }
    })();
    try {
      for (;;) {
        const next = pending[0];
        if (next === undefined) {
          if (!reading) break;
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const item = await next;
        pending.shift();
        if (room !== undefined && pending.length < STREAM_WINDOW / 2) {
          const r = room;
          room = undefined;
          r();
        }
        yield item;
      }
      await reader;
      if (failure !== undefined) throw failure.error;
    } finally {
      stopped = true;
      room?.();
    }
  };
}

export function predictionHandlers(
  core: InferenceCore,
  log: Logger,
  stats: (modelName: string) => GetStatsResponse,
  feedback: Feedback | undefined,
): PredictionHandlers {
  return {
    predict: (req, ctx) => core.predict(predictInput(req), ctx),
    batchPredict: async (req, ctx) => {
      const dense = !isEmptyTensor(req.dense);
      if (dense && req.requests.length > 0) throw invalidArgument('give either requests or dense, not both');
      if (dense) {
        const t = req.dense as Tensor;
        // Read before inference: the input's buffer is transferred to a worker (detached).
        const raw = t.rawData.length > 0;
        const r = await core.batchPredictDense(req.modelName, req.modelVersion, tensorToHost(t, 'dense'), ctx);
        return { modelName: r.modelName, modelVersion: r.modelVersion, dense: { outputs: r.outputs, raw } };
      }
      const instances = req.requests.map((inst, i) => {
        try {
          return { input: instanceInput(inst, `requests[${i}].`), id: inst.id };
        } catch (err) {
          return { input: { kind: 'invalid', error: toQuiverError(err) } as const, id: inst.id };
        }
      });
      return core.batchPredict(req.modelName, req.modelVersion, instances, ctx);
    },
    predictStream: predictStream(core, log),
    getModelMetadata: async (req) => metadataResponse(core, await core.metadata(req.modelName, req.modelVersion)),
    listModels: () => ({
      models: core.models.list().map((m) => ({
        name: m.name,
        versions: m.versions.map(String),
        defaultVersion: String(m.defaultVersion),
        aliases: new Map([...m.aliases].map(([k, v]) => [k, String(v)])),
        ready: m.versions.length > 0,
      })),
    }),
    getStats: (req) => stats(req.modelName),
    recordOutcomes: (req) => {
      if (feedback === undefined)
        throw failedPrecondition(
          "outcomes join the prediction log, which is kept in the registry's database: this server runs without a registry (--no-registry)",
        );
      return feedback.recordOutcomes(req);
    },
  };
}
