/**
 * The Open Inference Protocol's six operations, once for every transport: the gRPC service
 * (src/grpc/oip.ts) and the REST form (gateway/oip.ts) both call them, so the two forms
 * answer identically. `oipHandlers` serves them from the in-process inference core; as a
 * sidecar, `upstreamOipHandlers` (gateway/oip-upstream.ts) forwards them to a remote
 * server's OIP gRPC service.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { CallContext } from '../core/context.js';
import { echo, invalidArgument, QuiverError } from '../core/errors.js';
import type { InferenceCore } from '../core/inference.js';
import type { LoadedVersion } from '../core/model-manager.js';
import type { TensorSpec } from '../core/signature.js';
import type { HostTensor } from '../core/tensor.js';
import { PACKAGE_ROOT } from '../paths.js';
import { type NamedTensor, oipDatatype } from '../contract/oip-tensors.js';

export const SERVER_NAME = 'quiver';

/** The package version, as ServerMetadata reports it. */
export const SERVER_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * Protocol extensions served. None: Quiver implements the core protocol only (no model
 * repository, statistics, shared memory, classification, sequence or binary tensor APIs).
 */
export const SERVER_EXTENSIONS: readonly string[] = [];

/** Triton's platform name for ONNX models run by onnxruntime. */
export const PLATFORM = 'onnxruntime_onnx';

export interface ServerMetadata {
  readonly name: string;
  readonly version: string;
  readonly extensions: readonly string[];
}

export interface TensorMetadata {
  readonly name: string;
  readonly datatype: string;
  /** -1 for a dynamic dimension; empty when the graph declares no shape. */
  readonly shape: readonly number[];
}

export interface ModelMetadata {
  readonly name: string;
  readonly versions: readonly string[];
  readonly platform: string;
  readonly inputs: readonly TensorMetadata[];
  readonly outputs: readonly TensorMetadata[];
}

export interface InferRequest {
  readonly modelName: string;
  /** A version number, an alias, or empty for the model's default version. */
  readonly modelVersion: string;
  readonly id: string;
  /** The input tensors, in request order, names unique. */
  readonly inputs: readonly NamedTensor[];
  /** Output names to return, in this order; undefined returns every output. */
  readonly outputs?: readonly string[] | undefined;
}

export interface InferResponse {
  readonly modelName: string;
  /** The version that answered, as a number (even when the request named an alias). */
  readonly modelVersion: string;
  readonly id: string;
  readonly outputs: readonly NamedTensor[];
}

/** The protocol as both transports see it. Failures are thrown (QuiverError, or errors with an httpStatus). */
export interface OipHandlers {
  serverLive(ctx: CallContext): Promise<boolean>;
  serverReady(ctx: CallContext): Promise<boolean>;
  /** True when the version can be inferred now; throws NOT_FOUND for an unknown model or version. */
  modelReady(name: string, version: string, ctx: CallContext): Promise<boolean>;
  serverMetadata(ctx: CallContext): Promise<ServerMetadata>;
  modelMetadata(name: string, version: string, ctx: CallContext): Promise<ModelMetadata>;
  modelInfer(request: InferRequest, ctx: CallContext): Promise<InferResponse>;
}

const tensorMetadata = (t: TensorSpec): TensorMetadata => ({
  name: t.name,
  datatype: oipDatatype(t.dtype),
  shape: t.dims === null ? [] : [...t.dims],
});

export function modelMetadataOf(core: InferenceCore, v: LoadedVersion): ModelMetadata {
  return {
    name: v.name,
    versions: core.models.versionsOf(v.name).map((x) => String(x.version)),
    platform: PLATFORM,
    inputs: v.signature.inputs.map(tensorMetadata),
    outputs: v.signature.outputs.map(tensorMetadata),
  };
}

function listNames(names: readonly string[]): string {
  return names.map((n) => `'${n}'`).join(', ');
}

/** Checks requested output names against the version's outputs before anything runs. */
export function checkRequestedOutputs(v: LoadedVersion, requested: readonly string[] | undefined): void {
  if (requested === undefined) return;
  const names = v.signature.outputs.map((o) => o.name);
  const seen = new Set<string>();
  requested.forEach((name, i) => {
    if (name === '') throw invalidArgument(`outputs[${i}].name: required`);
    if (!names.includes(name))
      throw invalidArgument(`outputs[${i}].name: unknown output '${echo(name)}'; the model's outputs are ${listNames(names)}`);
    if (seen.has(name)) throw invalidArgument(`outputs[${i}].name: output '${echo(name)}' is requested more than once`);
    seen.add(name);
  });
}

/** Checks input names (present, unique) and builds the core's input map. */
export function inputMap(inputs: readonly NamedTensor[]): Map<string, HostTensor> {
  const map = new Map<string, HostTensor>();
  inputs.forEach(({ name, tensor }, i) => {
    if (name === '') throw invalidArgument(`inputs[${i}].name: required`);
    if (map.has(name)) throw invalidArgument(`inputs[${i}].name: input '${echo(name)}' is given more than once`);
    map.set(name, tensor);
  });
  return map;
}

export interface OipHandlerOptions {
  /** Whether the server is serving (models loaded, not shutting down); true when not given. */
  readonly serving?: () => boolean;
}

/** The protocol served from the in-process inference core. */
export function oipHandlers(core: InferenceCore, options: OipHandlerOptions = {}): OipHandlers {
  const serving = options.serving ?? (() => true);
  return {
    serverLive: () => Promise.resolve(true),
    serverReady: () => Promise.resolve(serving()),
    modelReady(name, version) {
      if (name === '') return Promise.reject(invalidArgument('name: required'));
      try {
        // Loaded versions only: a readiness probe never triggers an on-demand load.
        core.models.resolve(name, version);
        return Promise.resolve(serving());
      } catch (err) {
        return Promise.reject(err);
      }
    },
    serverMetadata: () => Promise.resolve({ name: SERVER_NAME, version: SERVER_VERSION, extensions: SERVER_EXTENSIONS }),
    async modelMetadata(name, version) {
      if (name === '') throw invalidArgument('name: required');
      return modelMetadataOf(core, await core.metadata(name, version));
    },
    async modelInfer(req, ctx) {
      const resolved = core.metadata(req.modelName, req.modelVersion);
      const v = resolved instanceof Promise ? await resolved : resolved;
      checkRequestedOutputs(v, req.outputs);
      const inputs = inputMap(req.inputs);
      // Pinned to the version just resolved: an alias moving meanwhile cannot change which
      // outputs exist between the check above and the inference.
      const result = await core.predict(
        { modelName: v.name, modelVersion: String(v.version), input: { kind: 'tensors', inputs }, id: req.id },
        ctx,
      );
      const names = req.outputs ?? [...result.outputs.keys()];
      const outputs = names.map((name) => {
        const tensor = result.outputs.get(name);
        if (tensor === undefined) throw new QuiverError('QUIVER_ERR_INTERNAL', `output '${name}' is missing from the result`);
        return { name, tensor };
      });
      return { modelName: result.modelName, modelVersion: result.modelVersion, id: req.id, outputs };
    },
  };
}
