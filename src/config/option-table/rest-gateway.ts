/** The REST gateway in the server's process: its listener, request timeouts and body limits, the blueprint routes' default model. */
import { MiB, type OptionDef } from '../option-schema.js';

export const REST_GATEWAY_OPTIONS: readonly OptionDef[] = [
  {
    key: 'gateway',
    kind: 'bool',
    default: () => true,
    doc: "serve the REST gateway in this process (on httpHost:httpPort, and the registry's REST routes on registryHost:registryHttpPort)",
  },
  { key: 'httpHost', kind: 'string', default: () => '0.0.0.0', doc: 'address the REST gateway binds' },
  {
    key: 'httpRequestTimeoutMs',
    kind: 'int',
    min: 0,
    max: 2 ** 31 - 1,
    default: () => 30_000,
    unit: 'ms',
    doc: 'longest a REST request (headers and body) may take to arrive, on both HTTP ports; a slower client gets 408 and its connection closed (0 = no limit; raise it for large registry uploads over slow links)',
  },
  {
    key: 'httpHeadersTimeoutMs',
    kind: 'int',
    min: 1,
    max: 2 ** 31 - 1,
    default: () => 10_000,
    unit: 'ms',
    doc: "longest a REST request's headers may take to arrive (408 and the connection closed beyond); at most httpRequestTimeoutMs",
  },
  {
    key: 'httpKeepAliveTimeoutMs',
    kind: 'int',
    min: 1,
    max: 2 ** 31 - 1,
    default: () => 72_000,
    unit: 'ms',
    doc: 'how long an idle keep-alive REST connection stays open; keep it above the idle timeout of a load balancer in front',
  },
  {
    key: 'maxHttpBodyBytes',
    kind: 'int',
    min: 1024,
    max: 2 ** 31 - 1,
    default: () => 4 * MiB,
    unit: 'bytes',
    doc: 'largest REST request body (413 beyond)',
  },
  {
    key: 'maxJsonDepth',
    kind: 'int',
    min: 2,
    max: 10_000,
    default: () => 64,
    unit: 'levels',
    doc: 'deepest JSON nesting a REST body may have (400 beyond)',
  },
  {
    key: 'defaultModel',
    kind: 'string',
    default: () => 'production-model',
    doc: 'the model the blueprint routes (/predict, /model-info) use when a request names none',
  },
];
