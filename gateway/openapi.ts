/**
 * The OpenAPI 3 document served at /openapi.json, generated from the same descriptors the
 * router uses: one operation per google.api.http binding, component schemas for the proto3
 * JSON form of every message, plus the blueprint's routes.
 */
import protobuf from 'protobufjs';

import { OIP_REST_ROUTES } from './oip.js';
import type { RpcDescriptor } from './descriptors.js';

type Schema = Record<string, unknown>;

const camel = (name: string): string => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const schemaName = (t: protobuf.ReflectionObject): string => t.fullName.replace(/^\./, '');

const SCALARS: Record<string, Schema> = {
  double: { type: 'number', format: 'double' },
  float: { type: 'number', format: 'float' },
  int32: { type: 'integer', format: 'int32' },
  sint32: { type: 'integer', format: 'int32' },
  sfixed32: { type: 'integer', format: 'int32' },
  uint32: { type: 'integer', format: 'int64', minimum: 0 },
  fixed32: { type: 'integer', format: 'int64', minimum: 0 },
  int64: { type: 'integer', format: 'int64' },
  sint64: { type: 'integer', format: 'int64' },
  sfixed64: { type: 'integer', format: 'int64' },
  uint64: { type: 'integer', format: 'int64', minimum: 0 },
  fixed64: { type: 'integer', format: 'int64', minimum: 0 },
  bool: { type: 'boolean' },
  string: { type: 'string' },
  bytes: { type: 'string', format: 'byte' },
};

class Schemas {
  readonly components: Record<string, Schema> = {};

  ref(type: protobuf.Type | protobuf.Enum): Schema {
    const name = schemaName(type);
    if (type.fullName === '.google.protobuf.Timestamp') return { type: 'string', format: 'date-time' };
    if (this.components[name] === undefined) {
      this.components[name] = {};
      this.components[name] = type instanceof protobuf.Enum ? { type: 'string', enum: Object.keys(type.values) } : this.message(type);
    }
    return { $ref: `#/components/schemas/${name}` };
  }

  value(field: protobuf.Field): Schema {
    const t = field.resolvedType;
    return t === null ? (SCALARS[field.type] ?? { type: 'string' }) : this.ref(t as protobuf.Type | protobuf.Enum);
  }

  field(field: protobuf.Field): Schema {
    const value = this.value(field);
    if (field.map) return { type: 'object', additionalProperties: value };
    if (field.repeated) return { type: 'array', items: value };
    return value;
  }

  message(type: protobuf.Type): Schema {
    const properties: Record<string, Schema> = {};
    for (const f of type.fieldsArray) properties[camel(f.name)] = this.field(f);
    return { type: 'object', ...(type.comment ? { description: type.comment } : {}), properties };
  }
}

const ERROR: Schema = {
  type: 'object',
  description: "grpc-gateway's error body (google.rpc.Status as JSON)",
  properties: {
    code: { type: 'integer', description: 'gRPC status code' },
    message: { type: 'string', description: 'ends with "(request id …: see the server log)" when the cause is in the log' },
    details: {
      type: 'array',
      description:
        'one google.rpc.RequestInfo: {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId"}, as the X-Request-Id header',
      items: { type: 'object' },
    },
  },
};

function blueprintPaths(): Record<string, unknown> {
  const json = (schema: Schema) => ({ content: { 'application/json': { schema } } });
  const features = { type: 'object', additionalProperties: { type: 'number' }, example: { feature_0: 1.5, feature_1: 2.3 } };
  const prediction = {
    type: 'object',
    properties: {
      prediction: { type: 'number' },
      probability: { type: 'number' },
      probabilities: { type: 'array', items: { type: 'number' } },
      model_name: { type: 'string' },
      model_version: { type: 'string' },
    },
  };
  const errors = { default: { description: 'error', ...json({ $ref: '#/components/schemas/Error' }) } };
  return {
    '/health': {
      get: {
        summary: 'Server health and served models (503 when not serving)',
        responses: { '200': { description: 'healthy' }, ...errors },
      },
    },
    '/model-info': {
      get: { summary: "The default model's signature, stage and lineage", responses: { '200': { description: 'model info' }, ...errors } },
    },
    '/predict': {
      post: {
        summary: 'One prediction (the blueprint shape)',
        requestBody: {
          required: true,
          ...json({
            type: 'object',
            required: ['features'],
            properties: { features, model_name: { type: 'string' }, model_version: { type: 'string' } },
          }),
        },
        responses: { '200': { description: 'the prediction', ...json(prediction) }, ...errors },
      },
    },
    '/predict/batch': {
      post: {
        summary: 'Many predictions (the blueprint shape); items fail independently',
        requestBody: {
          required: true,
          ...json({
            type: 'object',
            required: ['requests'],
            properties: { requests: { type: 'array', items: { type: 'object', properties: { features } } } },
          }),
        },
        responses: { '200': { description: 'predictions in request order' }, ...errors },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Prometheus text format' } } } },
    '/stats': { get: { summary: 'Per model version statistics', responses: { '200': { description: 'statistics' }, ...errors } } },
    '/reload-model': {
      post: { summary: 'Re-read the registry and reload', responses: { '200': { description: 'what is served now' }, ...errors } },
    },
  };
}

export function openApiDocument(rpcs: readonly RpcDescriptor[], plane: 'inference' | 'registry' = 'inference'): Record<string, unknown> {
  const schemas = new Schemas();
  const blueprint = blueprintPaths() as Record<string, Record<string, unknown>>;
  // The registry plane's listener serves only /reload-model of the blueprint's routes.
  const paths: Record<string, Record<string, unknown>> = plane === 'inference'
    ? blueprint
    : { '/reload-model': blueprint['/reload-model'] as Record<string, unknown> };
  for (const rpc of rpcs) {
    rpc.bindings.forEach((b, i) => {
      const pathVars = [...b.path.matchAll(/\{([^}=]+)(?:=[^}]*)?\}/g)].map((m) => m[1] as string);
      const path = b.path.replace(/\{([^}=]+)=[^}]*\}/g, '{$1}');
      const parameters: unknown[] = pathVars.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } }));
      if (b.body !== '*') {
        for (const f of rpc.requestType.fieldsArray) {
          if (
            pathVars.includes(f.name) ||
            f.name === b.body ||
            f.map ||
            (f.resolvedType !== null && !(f.resolvedType instanceof protobuf.Enum))
          )
            continue;
          parameters.push({ name: f.name, in: 'query', required: false, schema: schemas.field(f) });
        }
      }
      const request = schemas.ref(rpc.requestType);
      const response = schemas.ref(rpc.responseType);
      const stream = rpc.requestStream || rpc.responseStream;
      const op: Record<string, unknown> = {
        operationId: `${rpc.service.split('.').pop()}_${rpc.name}${i === 0 ? '' : `_${i}`}`,
        tags: [rpc.service],
        summary: `${rpc.service}.${rpc.name}${stream ? ' (newline-delimited JSON messages)' : ''}`,
        parameters,
        responses: {
          '200': {
            description: 'OK',
            content: { [rpc.responseStream ? 'application/x-ndjson' : 'application/json']: { schema: response } },
          },
          default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
        },
      };
      if (b.body !== '') {
        const bodyField = b.body === '*' ? undefined : rpc.requestType.fields[b.body];
        op.requestBody = {
          required: true,
          content: {
            [rpc.requestStream ? 'application/x-ndjson' : 'application/json']: {
              schema: bodyField === undefined ? request : schemas.field(bodyField),
            },
          },
        };
      }
      (paths[path] ??= {})[b.method.toLowerCase()] = op;
    });
  }
  for (const r of OIP_REST_ROUTES) {
    const path = r.path.replace(/\{(\w+)\}/g, '{$1}');
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      operationId: `OIP_${r.operation}_${r.method}_${Object.keys(paths[path] ?? {}).length}`,
      tags: ['Open Inference Protocol v2'],
      summary: r.summary,
      parameters: [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } })),
      responses: { '200': { description: 'OK' }, default: { description: 'error: {"error": "..."}' } },
    };
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Quiver REST gateway',
      version: '1',
      description: 'REST/JSON for the quiver.v1 gRPC services (grpc-gateway conventions), and the blueprint routes.',
    },
    paths,
    components: { schemas: { ...schemas.components, Error: ERROR } },
  };
}
