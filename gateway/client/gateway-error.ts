/** A gateway error: the HTTP status and grpc-gateway's {code, message, details}. */
export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly details: unknown[],
  ) {
    super(message);
    this.name = 'GatewayError';
  }
}
