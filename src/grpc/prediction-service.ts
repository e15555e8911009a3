/** quiver.v1.PredictionService: translates between the contract and the inference core. */
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';

import type { CallContext } from '../core/context.js';
import { invalidArgument, toQuiverError } from '../core/errors.js';
import type { InferenceCore, PredictResult } from '../core/inference.js';
import type { LoadedVersion } from '../core/model-manager.js';
import type { HostTensor } from '../core/tensor.js';
import type { InstanceInput } from '../core/validate.js';
import {
  type GetModelMetadataRequest,
  type GetStatsRequest,
  type GetStatsResponse,
  type GetModelMetadataResponse,
  type ListModelsResponse,
  ModelTask,
  PredictionServiceService,
} from '../gen/quiver/v1/prediction.js';
import type { Tensor } from '../gen/quiver/v1/tensor.js';
import { contextOf, ensureDecoded, type InflightCalls, toServiceError, unary } from './calls.js';
import {
  type DecodedBatchPredictRequest,
  type DecodedInstance,
  type DecodedPredictRequest,
  type DecodedPredictStreamRequest,
  type DecodeLimits,
  decodeBatchPredictRequest,
  decodePredictRequest,
  decodePredictStreamRequest,
  safely,
  type UndecodableRequest,
} from './codec.js';
import { isEmptyTensor, tensorToHost, toWireDataType } from './convert.js';
import {
  type BatchWire,
  encodeBatchPredictResponse,
  encodePredictResponse,
  encodePredictStreamResponse,
  type StreamItem,
} from './encode.js';

export const PREDICTION_SERVICE_NAME = 'quiver.v1.PredictionService';

/**
 * The generated service definition with the hot-path codecs swapped in: duplicate-aware,
 * bounded request decoders that never throw, and direct response encoders.
 */
export function predictionServiceDefinition(limits: DecodeLimits) {
  return {
    predict: {
      ...PredictionServiceService.predict,
      requestDeserialize: safely((b) => decodePredictRequest(b, limits)),
      responseSerialize: encodePredictResponse,
    },
    batchPredict: {
      ...PredictionServiceService.batchPredict,
      requestDeserialize: safely((b) => decodeBatchPredictRequest(b, limits)),
      responseSerialize: encodeBatchPredictResponse,
    },
    predictStream: {
      ...PredictionServiceService.predictStream,
      requestDeserialize: safely((b) => decodePredictStreamRequest(b, limits)),
      responseSerialize: encodePredictStreamResponse,
    },
    getModelMetadata: {
      ...PredictionServiceService.getModelMetadata,
      requestDeserialize: safely(PredictionServiceService.getModelMetadata.requestDeserialize),
    },
    listModels: {
      ...PredictionServiceService.listModels,
      requestDeserialize: safely(PredictionServiceService.listModels.requestDeserialize),
    },
    getStats: {
      ...PredictionServiceService.getStats,
      requestDeserialize: safely(PredictionServiceService.getStats.requestDeserialize),
    },
  } as const;
}

function instanceInput(msg: DecodedInstance, field: string): InstanceInput {
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

/** Items in flight per stream before the server stops reading from it. */
const STREAM_WINDOW = 256;

function predictStream(core: InferenceCore, log: Logger, calls: InflightCalls) {
  return (call: ServerDuplexStream<DecodedPredictStreamRequest | UndecodableRequest, StreamItem>): void => {
    let ctx: CallContext;
    try {
      ctx = contextOf(call);
    } catch (err) {
      call.emit('error', toServiceError(err, log, 'PredictStream', call.metadata));
      return;
    }
    // Responses are written in request order: each item waits for the one before it.
    let tail: Promise<void> = Promise.resolve();
    let inflight = 0;
    let ended = false;
    let paused = false;
    const finish = (): void => {
      if (ended && inflight === 0) call.end();
    };
    call.on('data', (msg: DecodedPredictStreamRequest | UndecodableRequest) => {
      inflight++;
      calls.enter();
      let id = '';
      const work = (async (): Promise<StreamItem> => {
        try {
          const decoded = ensureDecoded(msg);
          if (decoded.request === undefined) throw invalidArgument('request: required');
          id = decoded.request.id;
          return { result: await core.predict(predictInput(decoded.request), ctx), id };
        } catch (err) {
          const error = toQuiverError(err);
          if (error.code === 'QUIVER_ERR_INTERNAL') log.error({ err }, 'PredictStream item failed');
          return { error, id };
        }
      })();
      tail = tail.then(async () => {
        const item = await work;
        if (!call.cancelled) call.write(item);
        inflight--;
        calls.leave();
        if (paused && inflight < STREAM_WINDOW / 2) {
          paused = false;
          call.resume();
        }
        finish();
      });
      if (inflight >= STREAM_WINDOW && !paused) {
        paused = true;
        call.pause();
      }
    });
    call.on('end', () => {
      ended = true;
      void tail.then(finish);
    });
    call.on('error', (err) => log.debug({ err }, 'PredictStream stream error'));
  };
}

export function predictionServiceHandlers(
  core: InferenceCore,
  log: Logger,
  calls: InflightCalls,
  stats: (modelName: string) => GetStatsResponse,
): UntypedServiceImplementation {
  return {
    predict: unary<DecodedPredictRequest, PredictResult>('Predict', log, calls, (req, ctx) => core.predict(predictInput(req), ctx)),
    batchPredict: unary<DecodedBatchPredictRequest, BatchWire>('BatchPredict', log, calls, async (req, ctx) => {
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
    }),
    predictStream: predictStream(core, log, calls),
    getModelMetadata: unary<GetModelMetadataRequest, GetModelMetadataResponse>('GetModelMetadata', log, calls, (req) =>
      Promise.resolve(core.metadata(req.modelName, req.modelVersion)).then((v) => metadataResponse(core, v)),
    ),
    listModels: unary<unknown, ListModelsResponse>('ListModels', log, calls, () => ({
      models: core.models.list().map((m) => ({
        name: m.name,
        versions: m.versions.map(String),
        defaultVersion: String(m.defaultVersion),
        aliases: new Map([...m.aliases].map(([k, v]) => [k, String(v)])),
        ready: m.versions.length > 0,
      })),
    })),
    getStats: unary<GetStatsRequest, GetStatsResponse>('GetStats', log, calls, (req) => stats(req.modelName)),
  };
}
