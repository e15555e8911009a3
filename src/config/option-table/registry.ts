/** The model registry: where it and its artifacts live, how the server follows it, and its plane's listeners. */
import { MiB, type OptionDef } from '../option-schema.js';

export const REGISTRY_OPTIONS: readonly OptionDef[] = [
  {
    key: 'registry',
    kind: 'bool',
    default: () => true,
    doc: 'open the embedded registry under dataDir (SQLite + artifacts), serve what it says and serve the RegistryService',
  },
  {
    key: 'registryUrl',
    kind: 'string',
    default: () => '',
    doc: 'where the registry lives: empty for the embedded one under dataDir (SQLite), or postgres://user:pass@host/db to share one between replicas',
  },
  {
    key: 'artifactUrl',
    kind: 'string',
    default: () => '',
    doc: 'where model artifacts live: empty to keep them with the registry (a directory, or PostgreSQL), or s3://bucket/prefix for an S3-compatible store (credentials from the AWS SDK chain)',
  },
  {
    key: 's3Endpoint',
    kind: 'string',
    default: () => '',
    doc: 'endpoint of an S3-compatible store such as MinIO (empty = AWS S3)',
  },
  {
    key: 's3ForcePathStyle',
    kind: 'bool',
    default: () => false,
    doc: 'address S3 objects as endpoint/bucket/key (MinIO and most non-AWS stores need it)',
  },
  {
    key: 'registryPollMs',
    kind: 'int',
    min: 0,
    max: 3_600_000,
    // PostgreSQL pushes changes (LISTEN/NOTIFY), so its poll is only the safety net.
    default: (p) => (p.registryUrl === undefined || p.registryUrl === '' ? 250 : 5000),
    unit: 'ms',
    doc: 'how often the server checks the registry for changes made by other processes (0 = only this process); with PostgreSQL, changes arrive by LISTEN/NOTIFY and this poll is the safety net',
  },
  {
    key: 'maxUploadBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 40,
    default: () => 256 * MiB,
    unit: 'bytes',
    doc: 'the largest model artifact the registry accepts',
  },
  {
    key: 'registryHost',
    kind: 'string',
    default: () => '127.0.0.1',
    doc: 'address the registry plane (RegistryService, its own port) binds; a non-loopback address needs authTokens (or insecureRegistry)',
  },
  { key: 'registryPort', kind: 'port', default: () => 50052, doc: 'registry plane gRPC port (0 picks a free port)' },
  {
    key: 'registryHttpPort',
    kind: 'port',
    default: () => 8081,
    doc: "registry plane REST port, on registryHost (with the REST gateway's TLS when tlsCert is set): the registry routes (`/v1/registry/...`, `/reload-model`); 0 picks a free port",
  },
  {
    key: 'registryRestOnHttpPort',
    kind: 'bool',
    default: () => false,
    doc: 'also serve the registry REST routes on httpPort, as before; off, they answer 404 there with a pointer to registryHttpPort',
  },
];
