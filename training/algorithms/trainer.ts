/** What every learning algorithm offers train.ts: fit, predict P(class 1), export ONNX. */
import { invalidArgument } from '../../src/core/errors.js';
import type { Matrix } from '../matrix.js';

/** Called as work completes: `done` of `total` units (iterations, trees or epochs). */
export type ProgressFn = (done: number, total: number) => void;

export interface Trainer<P extends object, M extends { readonly params: P }> {
  readonly name: string;
  readonly defaults: Readonly<P>;
  /** Fits on rows X with 0/1 labels y; missing params take the defaults. */
  train(X: Matrix, y: readonly number[], params?: Partial<P>, onProgress?: ProgressFn): M;
  /**
   * P(class 1) per row, computed the way the exported ONNX computes it in float32 (float32
   * inputs and weights), so the parity check can hold the two to 1e-5.
   */
  predictProba(model: M, X: Matrix): number[];
  /** The model as ONNX bytes (see export.ts for the contract). */
  toOnnx(model: M, featureNames: readonly string[]): Uint8Array;
}

/** Params with defaults filled in, rejecting unknown keys and non-finite numbers early. */
export function resolveParams<P extends object>(algorithm: string, defaults: Readonly<P>, given: Partial<P> = {}): P {
  for (const [key, value] of Object.entries(given)) {
    if (!(key in defaults))
      throw invalidArgument(`${algorithm}: unknown parameter '${key}'; use one of ${Object.keys(defaults).join(', ')}`);
    const expected = (defaults as Record<string, unknown>)[key];
    const ok = Array.isArray(expected)
      ? Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v))
      : typeof value === typeof expected && (typeof value !== 'number' || Number.isFinite(value));
    if (value !== undefined && !ok) {
      throw invalidArgument(
        `${algorithm}: parameter '${key}' must be ${Array.isArray(expected) ? 'a list of numbers' : `a finite ${typeof expected}`}, got ${JSON.stringify(value)}`,
      );
    }
  }
  const out = { ...defaults } as P;
  for (const [key, value] of Object.entries(given)) if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  return out;
}

export function requirePositiveInt(algorithm: string, name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw invalidArgument(`${algorithm}: ${name} must be a positive integer, got ${value}`);
}

export function requirePositive(algorithm: string, name: string, value: number): void {
  if (!(value > 0)) throw invalidArgument(`${algorithm}: ${name} must be > 0, got ${value}`);
}
