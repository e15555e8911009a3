/** A grpc.health.v1 client, for `quiver health` (container HEALTHCHECK, exec probes) and tests. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';

export interface HealthClient extends grpc.Client {
  check(req: { service: string }, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
}

type HealthConstructor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => HealthClient;
let constructor: HealthConstructor | undefined;

export function healthClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): HealthClient {
  if (constructor === undefined) {
    const definition = protoLoader.loadSync(protoPath, { keepCase: true, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: HealthConstructor } } } };
    constructor = pkg.grpc.health.v1.Health;
  }
  return new constructor(address, credentials, options);
}

export function check(client: HealthClient, service: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res.status))),
  );
}

/** One Check call on a fresh channel. */
export async function checkHealth(
  address: string,
  service: string,
  timeoutMs: number,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = {},
): Promise<string> {
  const client = healthClient(address, credentials, options);
  try {
    return await check(client, service, timeoutMs);
  } finally {
    client.close();
  }
}
