/**
 * The contracts as the gateway sees them: every RPC of the services in proto/ with its
 * google.api.http rule, read from the .proto files at start-up with protobufjs (routes are
 * never written by hand, one per RPC).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import protobuf from 'protobufjs';

import { PROTO_DIR } from '../src/paths.js';

export interface HttpBinding {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  /** '' (no body), '*' (every field not in the path) or one top-level field name. */
  readonly body: string;
  readonly responseBody: string;
}

export interface RpcDescriptor {
  readonly service: string;
  readonly name: string;
  /** The gRPC path: /package.Service/Method. */
  readonly grpcPath: string;
  readonly requestType: protobuf.Type;
  readonly responseType: protobuf.Type;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly bindings: readonly HttpBinding[];
}

/** The files whose services the gateway exposes. */
export const GATEWAY_PROTOS = ['quiver/v1/prediction.proto', 'quiver/v1/registry.proto'];

const require = createRequire(import.meta.url);
const PROTOBUFJS_DIR = dirname(require.resolve('protobufjs/package.json'));

type HttpRuleOption = Partial<Record<'get' | 'post' | 'put' | 'patch' | 'delete', string>> & {
  body?: string;
  response_body?: string;
  additional_bindings?: HttpRuleOption | HttpRuleOption[];
};

function bindingsOf(rule: HttpRuleOption | undefined): HttpBinding[] {
  if (rule === undefined) return [];
  const out: HttpBinding[] = [];
  for (const verb of ['get', 'post', 'put', 'patch', 'delete'] as const) {
    const path = rule[verb];
    if (path !== undefined)
      out.push({
        method: verb.toUpperCase() as HttpBinding['method'],
        path,
        body: rule.body ?? '',
        responseBody: rule.response_body ?? '',
      });
  }
  const extra = rule.additional_bindings;
  for (const r of extra === undefined ? [] : Array.isArray(extra) ? extra : [extra]) out.push(...bindingsOf(r));
  return out;
}

export function loadRoot(files: readonly string[] = GATEWAY_PROTOS): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    const ours = join(PROTO_DIR, target);
    // google/protobuf/*.proto that we do not vendor come with protobufjs.
    return existsSync(ours) ? ours : join(PROTOBUFJS_DIR, target);
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

export function rpcDescriptors(root: protobuf.Root): RpcDescriptor[] {
  const out: RpcDescriptor[] = [];
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Service) {
        const service = obj.fullName.replace(/^\./, '');
        for (const m of obj.methodsArray) {
          m.resolve();
          const options = (m.parsedOptions ?? []) as Array<Record<string, HttpRuleOption>>;
          const rule = options.find((o) => o['(google.api.http)'] !== undefined)?.['(google.api.http)'];
          out.push({
            service,
            name: m.name,
            grpcPath: `/${service}/${m.name}`,
            requestType: m.resolvedRequestType as protobuf.Type,
            responseType: m.resolvedResponseType as protobuf.Type,
            requestStream: m.requestStream === true,
            responseStream: m.responseStream === true,
            bindings: bindingsOf(rule),
          });
        }
      } else if (obj instanceof protobuf.Namespace) {
        visit(obj);
      }
    }
  };
  visit(root);
  return out;
}
