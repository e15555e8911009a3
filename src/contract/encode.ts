/**
 * Response encoders for the inference hot path. They write quiver.v1 messages straight from
 * the core's results (typed arrays) into one reused BinaryWriter, instead of building
 * ts-proto objects (a Tensor per output, number arrays, map entry objects) only to encode
 * them: fewer allocations and far less garbage per call. The wire format is the generated
 * one's; test/codec.test.ts decodes these bytes with the generated decoders.
 */
import { BinaryWriter } from '@bufbuild/protobuf/wire';

import { clientText, type QuiverError } from '../core/errors.js';
import type { BatchItemResult, PredictResult } from '../core/inference.js';
import type { HostTensor } from '../core/tensor.js';
import { toWireDataType } from './convert.js';

let writer = new BinaryWriter();

function bytesOf(data: HostTensor['data']): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** quiver.v1.Tensor. Packed float/double fields are the little-endian bytes themselves. */
function writeTensor(w: BinaryWriter, t: HostTensor, raw: boolean): void {
  w.uint32(8).int32(toWireDataType(t.dtype));
  if (t.dims.length > 0) {
    w.uint32(18).fork();
    for (const d of t.dims) w.int64(d);
    w.join();
  }
  if (t.data.length === 0) return;
  if (raw) {
    w.uint32(66).bytes(bytesOf(t.data));
    return;
  }
  switch (t.dtype) {
    case 'float32':
      w.uint32(26).bytes(bytesOf(t.data));
      break;
    case 'float64':
      w.uint32(34).bytes(bytesOf(t.data));
      break;
    case 'int32':
      w.uint32(42).fork();
      for (const v of t.data as Int32Array) w.int32(v);
      w.join();
      break;
    case 'int64':
      w.uint32(50).fork();
      for (const v of t.data as BigInt64Array) w.int64(v);
      w.join();
      break;
    case 'bool':
      w.uint32(58).fork();
      for (const v of t.data as Uint8Array) w.bool(v !== 0);
      w.join();
      break;
  }
}

function writeOutputs(w: BinaryWriter, tag: number, outputs: ReadonlyMap<string, HostTensor>, raw: boolean): void {
  for (const [name, t] of outputs) {
    w.uint32(tag).fork();
    w.uint32(10).string(name);
    w.uint32(18).fork();
    writeTensor(w, t, raw);
    w.join();
    w.join();
  }
}

/** quiver.v1.PredictResponse fields, into the current message. */
function writePredictResult(w: BinaryWriter, r: PredictResult): void {
  if (r.modelName !== '') w.uint32(10).string(r.modelName);
  if (r.modelVersion !== '') w.uint32(18).string(r.modelVersion);
  if (r.prediction !== 0) w.uint32(25).double(r.prediction);
  if (r.probability !== 0) w.uint32(33).double(r.probability);
  if (r.probabilities.length > 0) {
    w.uint32(42).fork();
    for (const p of r.probabilities) w.double(p);
    w.join();
  }
  writeOutputs(w, 50, r.outputs, false);
  if (r.id !== '') w.uint32(58).string(r.id);
}

/** google.rpc.Status as a nested field. */
function writeStatus(w: BinaryWriter, tag: number, code: number, message: string): void {
  w.uint32(tag).fork();
  if (code !== 0) w.uint32(8).int32(code);
  // Item statuses become client answers here, as unary errors do in error-report.ts.
  if (message !== '') w.uint32(18).string(clientText(message));
  w.join();
}

function done(w: BinaryWriter): Buffer {
  const bytes = w.finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Runs an encoder on the shared writer; a failure leaves a fresh writer behind. */
function encode<T>(write: (w: BinaryWriter, value: T) => void): (value: T) => Buffer {
  return (value) => {
    try {
      write(writer, value);
      return done(writer);
    } catch (err) {
      writer = new BinaryWriter();
      throw err;
    }
  };
}

export const encodePredictResponse = encode(writePredictResult);

export interface StreamItem {
  readonly result?: PredictResult;
  readonly error?: QuiverError;
  readonly id: string;
}

export const encodePredictStreamResponse = encode((w: BinaryWriter, item: StreamItem): void => {
  if (item.error !== undefined) writeStatus(w, 10, item.error.grpcStatus, item.error.message);
  else writeStatus(w, 10, 0, '');
  if (item.result !== undefined) {
    w.uint32(18).fork();
    writePredictResult(w, item.result);
    w.join();
  }
  if (item.id !== '') w.uint32(26).string(item.id);
});

export interface BatchWire {
  readonly modelName: string;
  readonly modelVersion: string;
  readonly items?: readonly BatchItemResult[];
  readonly dense?: { readonly outputs: ReadonlyMap<string, HostTensor>; readonly raw: boolean };
}

export const encodeBatchPredictResponse = encode((w: BinaryWriter, r: BatchWire): void => {
  if (r.modelName !== '') w.uint32(10).string(r.modelName);
  if (r.modelVersion !== '') w.uint32(18).string(r.modelVersion);
  for (const item of r.items ?? []) {
    w.uint32(26).fork();
    if (item.result !== undefined) {
      writeStatus(w, 10, 0, '');
      w.uint32(18).fork();
      writePredictResult(w, item.result);
      w.join();
    } else {
      const code = item.error?.grpcStatus ?? 13;
      writeStatus(w, 10, code, item.error?.message ?? 'internal error');
    }
    w.join();
  }
  if (r.dense !== undefined) writeOutputs(w, 34, r.dense.outputs, r.dense.raw);
});
