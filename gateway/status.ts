/** The error body grpc-gateway clients expect: {code, message, details}; HTTP status from the shared mapping. */
import { httpStatusOfCode } from '../src/core/errors.js';

export const httpStatusOf = httpStatusOfCode;

export interface ErrorBody {
  readonly code: number;
  readonly message: string;
  readonly details: unknown[];
}

export function errorBody(code: number, message: string): ErrorBody {
  return { code, message, details: [] };
}
