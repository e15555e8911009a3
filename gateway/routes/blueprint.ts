/**
 * The blueprint's routes: /predict, /predict/batch, /metrics, /stats, /health and /model-info
 * on the inference plane, with /feedback (outcomes for answered predictions, by id), and /reload-model on both planes (gateway/registry.ts).
 */
import * as grpc from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';

import { QuiverError } from '../../src/core/errors.js';
import { GrpcCallError } from '../invoker.js';
import { parseBody, scanLimits } from '../json.js';
import {
  GetModelMetadataRequest,
  GetModelMetadataResponse,
  GetStatsRequest,
  GetStatsResponse,
  GetVersionRequest,
  GetVersionResponse,
  HealthCheckRequest,
  HealthCheckResponse,
  ListModelsRequest,
  ListModelsResponse,
  RecordOutcomesRequest,
  RecordOutcomesResponse,
  Stage,
} from '../wire.js';
import { feedbackAnswer, feedbackRequest } from '../feedback.js';
import { registerReloadModel } from '../registry.js';
import type { Plane, RouteContext } from './context.js';

/** The blueprint's snake_case for proto3 JSON field names; map keys (codes, classes) stay as they are. */
function snakeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snakeKeys);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(
    Object.entries(v as Record<string, unknown>).map(([k, x]) => [
      /^[a-z][a-zA-Z0-9]*$/.test(k) ? k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : k,
      snakeKeys(x),
    ]),
  );
}

/** The blueprint's routes the listener of `plane` serves; `maxRequestRows` bounds /predict/batch. */
export function registerBlueprintRoutes(app: FastifyInstance, plane: Plane, context: RouteContext, maxRequestRows: number): void {
  const { deps, options, allowRoute, callContext, rpcOptions, callOptions, handle, text, unary } = context;
  const batchLimits = scanLimits(options.maxJsonDepth, maxRequestRows);
  if (plane === 'inference') {
    app.post(
      '/predict',
      handle(async (req, reply) => {
        allowRoute(req, '/predict');
        const ctx = callContext(req, reply);
        return deps.predict.predict(parseBody(text(req) ?? '', options.maxJsonDepth), ctx, () => rpcOptions(req, ctx));
      }),
    );
    app.post(
      '/predict/batch',
      handle(async (req, reply) => {
        allowRoute(req, '/predict/batch');
        const ctx = callContext(req, reply);
        const body = parseBody(text(req) ?? '', options.maxJsonDepth, 'request body', batchLimits);
        return deps.predict.predictBatch(body, ctx, () => rpcOptions(req, ctx));
      }),
    );
    app.post(
      '/feedback',
      handle(async (req, reply) => {
        allowRoute(req, '/feedback');
        const { options: o } = callOptions(req, reply);
        const body = parseBody(text(req) ?? '', options.maxJsonDepth, 'request body', batchLimits);
        const res = RecordOutcomesResponse.decode(
          await unary('/quiver.v1.PredictionService/RecordOutcomes', RecordOutcomesRequest, feedbackRequest(body, maxRequestRows), o),
        );
        return feedbackAnswer(res);
      }),
    );
    app.get(
      '/metrics',
      handle(async (_req, reply) => {
        const m = await deps.metrics();
        return reply.header('content-type', m.contentType).send(m.text);
      }),
    );
    app.get(
      '/stats',
      handle(async (req, reply) => {
        allowRoute(req, '/stats');
        const { options: o } = callOptions(req, reply);
        const q = req.query as Record<string, string | undefined>;
        const res = GetStatsResponse.decode(
          await unary('/quiver.v1.PredictionService/GetStats', GetStatsRequest, { modelName: q.model ?? q.model_name ?? '' }, o),
        );
        return snakeKeys(GetStatsResponse.toJSON(res));
      }),
    );

    app.get(
      '/health',
      handle(async (req, reply) => {
        const { options: o } = callOptions(req, reply);
        let serving: boolean;
        try {
          serving =
            HealthCheckResponse.decode(await unary('/grpc.health.v1.Health/Check', HealthCheckRequest, { service: '' }, o)).status === 1;
        } catch {
          serving = false;
        }
        // The model list is inference data: with authInference it needs the infer scope; health
        // itself stays open for probes (model_loaded then follows SERVING, which implies it).
        let models: ListModelsResponse['models'] = [];
        let listed = false;
        if (serving) {
          try {
            models = ListModelsResponse.decode(await unary('/quiver.v1.PredictionService/ListModels', ListModelsRequest, {}, o)).models;
            listed = true;
          } catch (err) {
            const code = err instanceof GrpcCallError ? err.code : err instanceof QuiverError ? err.grpcStatus : undefined;
            if (code !== grpc.status.UNAUTHENTICATED && code !== grpc.status.PERMISSION_DENIED) throw err;
          }
        }
        return reply.code(serving ? 200 : 503).send({
          status: serving ? 'healthy' : 'unhealthy',
          serving,
          model_loaded: listed ? models.some((m) => m.ready) : serving,
          models: models.map((m) => ({
            name: m.name,
            versions: m.versions,
            default_version: m.defaultVersion,
            aliases: Object.fromEntries(m.aliases),
          })),
          timestamp: new Date().toISOString(),
        });
      }),
    );
    app.get(
      '/model-info',
      handle(async (req, reply) => {
        allowRoute(req, '/model-info');
        const { options: o } = callOptions(req, reply);
        const q = req.query as Record<string, string | undefined>;
        const model = q.model ?? q.model_name ?? options.defaultModel;
        const version = q.version ?? q.model_version ?? '';
        const meta = GetModelMetadataResponse.decode(
          await unary(
            '/quiver.v1.PredictionService/GetModelMetadata',
            GetModelMetadataRequest,
            { modelName: model, modelVersion: version },
            o,
          ),
        );
        let registry: Record<string, unknown> = {};
        try {
          const v = GetVersionResponse.decode(
            await unary('/quiver.v1.RegistryService/GetVersion', GetVersionRequest, { modelName: model, version: meta.modelVersion }, o),
          ).version;
          if (v !== undefined) {
            registry = {
              stage:
                Stage[v.stage]
                  ?.replace('STAGE_', '')
                  .toLowerCase()
                  .replace(/^./, (c) => c.toUpperCase()) ?? 'None',
              description: v.description,
              metrics: Object.fromEntries(v.lineage?.metrics ?? new Map()),
              lineage: {
                algorithm: v.lineage?.algorithm ?? '',
                dataset_sha256: v.lineage?.datasetSha256 ?? '',
                dataset_rows: v.lineage?.datasetRows ?? 0,
                experiment_name: v.lineage?.experimentName ?? '',
                code_version: v.lineage?.codeVersion ?? '',
              },
              created_by: v.createdBy,
              created_at: v.createdAt?.toISOString(),
            };
          }
        } catch {
          // Served from a file, not the registry: no stage or lineage to show.
        }
        return {
          model_name: meta.modelName,
          model_version: meta.modelVersion,
          versions: meta.versions,
          aliases: Object.fromEntries(meta.aliases),
          platform: meta.platform,
          task: meta.task === 1 ? 'classification' : meta.task === 2 ? 'regression' : 'unspecified',
          features: meta.featureNames,
          class_labels: meta.classLabels,
          inputs: meta.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })),
          outputs: meta.outputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })),
          sha256: meta.sha256,
          ...registry,
        };
      }),
    );
  }
  registerReloadModel(app, context);
}
