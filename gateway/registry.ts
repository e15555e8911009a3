/**
 * RegistryService over REST. Its RPCs' `google.api.http` bindings are served by the generic
 * transcoder (transcode.ts, calling the handlers through direct-invoker.ts in process); what is
 * the registry's own here: which paths belong to the registry plane's listener, and the
 * blueprint's /reload-model.
 */
import type { FastifyInstance } from 'fastify';

import { REGISTRY_SERVICE } from '../src/auth/policy.js';
import { invalidArgument } from '../src/core/errors.js';
import type { RpcDescriptor } from './descriptors.js';
import { parseBody } from './json.js';
import type { RouteContext } from './routes/context.js';
import { ReloadModelRequest, ReloadModelResponse } from './wire.js';

/** The registry plane's REST paths. */
export const isRegistryPath = (path: string): boolean => path === '/v1/registry' || path.startsWith('/v1/registry/');

export const isRegistryRpc = (rpc: RpcDescriptor): boolean => rpc.service === REGISTRY_SERVICE;

/** The blueprint's `POST /reload-model` (on both planes): ReloadModel, answered in its snake_case JSON. */
export function registerReloadModel(app: FastifyInstance, context: RouteContext): void {
  const { options, allowRoute, callOptions, handle, text, unary } = context;
  app.post(
    '/reload-model',
    handle(async (req, reply) => {
      allowRoute(req, '/reload-model');
      const { options: o } = callOptions(req, reply);
      const body = text(req);
      const parsed: unknown = body === undefined || body.trim() === '' ? {} : parseBody(body, options.maxJsonDepth);
      if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed)))
        throw invalidArgument('request body: expected a JSON object such as {"model_name": "production-model"} (or none)');
      const given = (parsed ?? {}) as Record<string, unknown>;
      if (given.model_name !== undefined && given.model_name !== null && typeof given.model_name !== 'string')
        throw invalidArgument('model_name: expected a string (a model name, or empty for every model)');
      const modelName = typeof given.model_name === 'string' ? given.model_name : '';
      const res = ReloadModelResponse.decode(await unary('/quiver.v1.RegistryService/ReloadModel', ReloadModelRequest, { modelName }, o));
      return {
        status: res.failures.length === 0 ? 'reloaded' : 'reloaded with failures',
        served: res.served.map((s) => ({ model_name: s.modelName, version: s.version, aliases: s.aliases })),
        failures: res.failures.map((f) => ({ model_name: f.modelName, version: f.version, message: f.message })),
      };
    }),
  );
}
