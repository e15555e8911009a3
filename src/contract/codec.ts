/**
 * Request decoders for the messages that carry feature maps. ts-proto's generated decoders
 * overwrite a repeated map key silently; these read the same wire format, keep the first
 * value, and record every key seen twice so validation can reject it. They also skip the
 * per-entry objects the generic decoder allocates, on the hottest path of the server.
 * A property test (test/codec.test.ts) checks them against the generated decoders.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';

import { Tensor } from '../gen/quiver/v1/tensor.js';
import { invalidArgument } from '../core/errors.js';
import type { BatchPredictRequest, Instance, PredictRequest, PredictStreamRequest } from '../gen/quiver/v1/prediction.js';

/** Map keys that appeared more than once, by map field name. */
export interface Duplicates {
  duplicates?: { features?: string[]; inputs?: string[] };
}

export type DecodedPredictRequest = PredictRequest & Duplicates;
export type DecodedInstance = Instance & Duplicates;
export type DecodedBatchPredictRequest = Omit<BatchPredictRequest, 'requests'> & { requests: DecodedInstance[] };
export type DecodedPredictStreamRequest = { request: DecodedPredictRequest | undefined };

const MAX_DEPTH = 32;

/**
 * Bounds checked while decoding, before anything is allocated per element: a 16 MiB
 * message of empty instances or map entries would otherwise become millions of objects.
 */
export interface DecodeLimits {
  /** Instances in one BatchPredictRequest. */
  readonly maxInstances: number;
  /** Entries (features or inputs, repeated keys included) in one instance. */
  readonly maxMapEntries: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxInstances: 8192, maxMapEntries: 65536 };

/** A request over a decode limit: answered INVALID_ARGUMENT with this message. */
export class LimitExceeded extends Error {}

function noteDuplicate(target: Duplicates, field: 'features' | 'inputs', key: string): void {
  const d = (target.duplicates ??= {});
  // The first repeated key is enough to name in the error.
  d[field] ??= [key];
}

function readFeatureEntry(reader: BinaryReader, end: number): [string, number] {
  let key = '';
  let value = 0;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === 10) key = reader.string();
    else if (tag === 17) value = reader.double();
    else reader.skip(tag & 7, tag >>> 3);
  }
  return [key, value];
}

function readTensorEntry(reader: BinaryReader, end: number): [string, Tensor] {
  let key = '';
  let value: Tensor | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag === 10) key = reader.string();
    else if (tag === 18) value = Tensor.decode(reader, reader.uint32());
    else reader.skip(tag & 7, tag >>> 3);
  }
  return [key, value ?? Tensor.fromPartial({})];
}

interface Counter {
  entries: number;
}

function countEntry(counter: Counter, limits: DecodeLimits, field: string): void {
  if (++counter.entries > limits.maxMapEntries) {
    throw new LimitExceeded(`${field}: more than ${limits.maxMapEntries} entries in one instance`);
  }
}

function addFeature(
  msg: { features: Map<string, number> } & Duplicates,
  reader: BinaryReader,
  counter: Counter,
  limits: DecodeLimits,
): void {
  countEntry(counter, limits, 'features');
  const len = reader.uint32();
  const [key, value] = readFeatureEntry(reader, reader.pos + len);
  if (msg.features.has(key)) noteDuplicate(msg, 'features', key);
  else msg.features.set(key, value);
}

function addInput(msg: { inputs: Map<string, Tensor> } & Duplicates, reader: BinaryReader, counter: Counter, limits: DecodeLimits): void {
  countEntry(counter, limits, 'inputs');
  const len = reader.uint32();
  const [key, value] = readTensorEntry(reader, reader.pos + len);
  if (msg.inputs.has(key)) noteDuplicate(msg, 'inputs', key);
  else msg.inputs.set(key, value);
}

function readPredictRequest(reader: BinaryReader, end: number, limits: DecodeLimits): DecodedPredictRequest {
  const msg: DecodedPredictRequest = { modelName: '', modelVersion: '', features: new Map(), inputs: new Map(), id: '' };
  const counter: Counter = { entries: 0 };
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag) {
      case 10:
        msg.modelName = reader.string();
        break;
      case 18:
        msg.modelVersion = reader.string();
        break;
      case 26:
        addFeature(msg, reader, counter, limits);
        break;
      case 34:
        addInput(msg, reader, counter, limits);
        break;
      case 42:
        msg.id = reader.string();
        break;
      default:
        reader.skip(tag & 7, tag >>> 3, MAX_DEPTH);
    }
  }
  return msg;
}

function readInstance(reader: BinaryReader, end: number, limits: DecodeLimits): DecodedInstance {
  const msg: DecodedInstance = { features: new Map(), inputs: new Map(), id: '' };
  const counter: Counter = { entries: 0 };
  while (reader.pos < end) {
    const tag = reader.uint32();
    switch (tag) {
      case 10:
        addFeature(msg, reader, counter, limits);
        break;
      case 18:
        addInput(msg, reader, counter, limits);
        break;
      case 26:
        msg.id = reader.string();
        break;
      default:
        reader.skip(tag & 7, tag >>> 3, MAX_DEPTH);
    }
  }
  return msg;
}

export function decodePredictRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedPredictRequest {
  const reader = new BinaryReader(bytes);
  return readPredictRequest(reader, reader.len, limits);
}

export function decodeBatchPredictRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedBatchPredictRequest {
  const reader = new BinaryReader(bytes);
  const msg: DecodedBatchPredictRequest = { modelName: '', modelVersion: '', requests: [], dense: undefined };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    switch (tag) {
      case 10:
        msg.modelName = reader.string();
        break;
      case 18:
        msg.modelVersion = reader.string();
        break;
      case 26: {
        if (msg.requests.length >= limits.maxInstances) {
          throw new LimitExceeded(`requests: more than ${limits.maxInstances} instances in one request`);
        }
        const len = reader.uint32();
        msg.requests.push(readInstance(reader, reader.pos + len, limits));
        break;
      }
      case 34:
        msg.dense = Tensor.decode(reader, reader.uint32());
        break;
      default:
        reader.skip(tag & 7, tag >>> 3, MAX_DEPTH);
    }
  }
  return msg;
}

export function decodePredictStreamRequest(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): DecodedPredictStreamRequest {
  const reader = new BinaryReader(bytes);
  const msg: DecodedPredictStreamRequest = { request: undefined };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 10) {
      const len = reader.uint32();
      // A repeated embedded message merges on the wire; taking the last is close enough for a
      // field clients send once.
      msg.request = readPredictRequest(reader, reader.pos + len, limits);
    } else {
      reader.skip(tag & 7, tag >>> 3, MAX_DEPTH);
    }
  }
  return msg;
}

/** Marks a request that could not be decoded, so the handler answers INVALID_ARGUMENT. */
export class UndecodableRequest {
  constructor(
    readonly reason: string,
    /** True when the bytes were fine but over a decode limit. */
    readonly overLimit = false,
  ) {}
}

/** Wraps a decoder so malformed bytes become an UndecodableRequest instead of INTERNAL. */
export function safely<T>(decode: (bytes: Buffer) => T): (bytes: Buffer) => T | UndecodableRequest {
  return (bytes) => {
    try {
      return decode(bytes);
    } catch (err) {
      return new UndecodableRequest((err as Error).message, err instanceof LimitExceeded);
    }
  };
}

export type { PredictStreamRequest };

/** The decoded message, or the decoder's refusal as INVALID_ARGUMENT. */
export function ensureDecoded<T>(request: T | UndecodableRequest): T {
  if (request instanceof UndecodableRequest) {
    throw invalidArgument(request.overLimit ? request.reason : `the request message could not be decoded: ${request.reason}`);
  }
  return request;
}
