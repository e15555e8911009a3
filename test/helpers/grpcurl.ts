/**
 * The README's grpcurl lines, made with grpc-js (grpcurl has no Debian package): the same
 * method, target and `-d` payload, the payload read the proto3 JSON way (field names as in
 * the proto or in lowerCamelCase, 64-bit integers as strings or numbers, enums by name), one
 * unary call, and the answer written as grpcurl writes it (lowerCamelCase names, 64-bit
 * integers as strings, enums by name, fields holding their default value left out).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';

import * as grpc from '@grpc/grpc-js';
import { protoPath as healthProto } from 'grpc-health-check';
import protobuf from 'protobufjs';

import { ROOT } from './process.js';

export interface GrpcurlCall {
  readonly target: string;
  /** `package.Service/Method`. */
  readonly method: string;
  readonly request: Record<string, unknown>;
}

/** The call a `grpcurl` command line makes; a flag this emulation does not know is an error, not ignored. */
export function parseGrpcurl(words: readonly string[]): GrpcurlCall {
  if (words[0] !== 'grpcurl') throw new Error(`not a grpcurl command: ${words.join(' ')}`);
  let plaintext = false;
  let data = '{}';
  const rest: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (w === '-plaintext') plaintext = true;
    else if (w === '-d') data = words[++i] ?? '';
    else if (w.startsWith('-')) throw new Error(`grpcurl flag ${w} is not emulated: add it to test/helpers/grpcurl.ts`);
    else rest.push(w);
  }
  if (!plaintext) throw new Error('only grpcurl -plaintext is emulated');
  if (rest.length !== 2) throw new Error(`grpcurl takes a target and a method, got: ${rest.join(' ')}`);
  const request = JSON.parse(data) as unknown;
  if (request === null || typeof request !== 'object' || Array.isArray(request)) throw new Error(`-d is not a JSON object: ${data}`);
  return { target: rest[0]!, method: rest[1]!, request: request as Record<string, unknown> };
}

const require = createRequire(import.meta.url);
const PROTOBUFJS_DIR = dirname(require.resolve('protobufjs/package.json'));
let root: protobuf.Root | undefined;

/** Our services and grpc.health.v1, as a server's reflection would describe them to grpcurl. */
function services(): protobuf.Root {
  if (root === undefined) {
    const r = new protobuf.Root();
    r.resolvePath = (_origin, target) => {
      if (isAbsolute(target)) return target;
      const ours = join(ROOT, 'proto', target);
      return existsSync(ours) ? ours : join(PROTOBUFJS_DIR, target);
    };
    r.loadSync(['quiver/v1/prediction.proto', 'quiver/v1/registry.proto', 'inference/grpc_predict_v2.proto', healthProto], {
      keepCase: true,
    });
    r.resolveAll();
    root = r;
  }
  return root;
}

const lowerCamel = (name: string): string => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
const messageType = (field: protobuf.Field): protobuf.Type | undefined =>
  field.resolvedType instanceof protobuf.Type ? field.resolvedType : undefined;

/** Proto3 JSON names (proto or lowerCamelCase) to the proto names protobufjs' fromObject takes, message by message. */
function toProtoNames(type: protobuf.Type, json: unknown, where: string): Record<string, unknown> {
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new Error(`${where}: expected a JSON object for ${type.fullName}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = type.fieldsArray.find((f) => f.name === key || lowerCamel(f.name) === key);
    if (field === undefined) throw new Error(`${where}: message ${type.fullName} has no field "${key}"`);
    const nested = messageType(field);
    const one = (v: unknown, at: string): unknown => (nested === undefined ? v : toProtoNames(nested, v, at));
    out[field.name] =
      field.map && value !== null && typeof value === 'object'
        ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, one(v, `${where}.${key}.${k}`)]))
        : field.repeated && Array.isArray(value)
          ? value.map((v, i) => one(v, `${where}.${key}[${i}]`))
          : one(value, `${where}.${key}`);
  }
  return out;
}

/** protobufjs' plain object (proto names) to grpcurl's JSON (lowerCamelCase names; map keys kept). */
function toJsonNames(type: protobuf.Type, object: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    const field = type.fields[key];
    const nested = field === undefined ? undefined : messageType(field);
    const one = (v: unknown): unknown => (nested === undefined ? v : toJsonNames(nested, v as Record<string, unknown>));
    out[lowerCamel(key)] =
      field?.map === true
        ? Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, one(v)]))
        : Array.isArray(value)
          ? value.map(one)
          : one(value);
  }
  return out;
}

/** Makes the call and resolves with the answer as grpcurl prints it; rejects with the gRPC error. */
export async function grpcurl(call: GrpcurlCall, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const [serviceName, methodName] = call.method.split('/');
  const method = services().lookupService(serviceName!).methods[methodName!];
  if (method === undefined) throw new Error(`${serviceName} has no method ${methodName}`);
  method.resolve();
  const requestType = method.resolvedRequestType!;
  const responseType = method.resolvedResponseType!;
  const request = requestType.fromObject(toProtoNames(requestType, call.request, '-d'));
  const client = new grpc.Client(call.target, grpc.credentials.createInsecure());
  return await new Promise<Record<string, unknown>>((resolve, reject) =>
    client.makeUnaryRequest(
      `/${call.method}`,
      (m: protobuf.Message) => Buffer.from(requestType.encode(m).finish()),
      (bytes: Buffer) => responseType.decode(bytes),
      request,
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        if (err) reject(err);
        else resolve(toJsonNames(responseType, responseType.toObject(res!, { longs: String, enums: String, bytes: String, json: true })));
      },
    ),
  ).finally(() => client.close());
}
