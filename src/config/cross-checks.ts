/**
 * What the options must satisfy together, beyond each value's own kind and bounds
 * (option-values.ts): checked once every option is resolved, each rule once, each message
 * naming the options involved.
 */
import { invalidConfig } from '../core/errors.js';
import { isLoopbackHost } from '../auth/policy.js';
import { parseS3Url } from '../registry/s3-url.js';
import { parseLatencyTargets } from './latency-targets.js';
import { envName, flagName } from './option-names.js';
import type { ModelSpec, Options } from './option-schema.js';

/** Every check over the resolved options, in the order their errors take precedence. */
export function checkAcrossOptions(options: Options): void {
  checkModels(options.models);
  checkStoreUrls(options);
  checkHttpTimeouts(options);
  checkPorts(options);
  checkTls(options);
  checkAuth(options);
  checkDrift(options);
  parseLatencyTargets(options.latencyTargets);
}

/** One model version given twice in `models` (from any mix of sources). */
function checkModels(models: readonly ModelSpec[]): void {
  const seen = new Set<string>();
  for (const m of models) {
    const id = `${m.name}:${m.version}`;
    if (seen.has(id)) throw invalidConfig(`option models: ${m.name} version ${m.version} is given twice`);
    seen.add(id);
  }
}

/** Where the registry and its artifacts live: a PostgreSQL URL, and an s3:// URL (parseS3Url says what is wrong with one). */
function checkStoreUrls(options: Options): void {
  if (options.registryUrl !== '' && !/^postgres(ql)?:\/\//.test(options.registryUrl)) {
    throw invalidConfig(
      `option registryUrl must be empty (the embedded registry) or a postgres:// URL, got ${JSON.stringify(options.registryUrl.replace(/:[^:@/]*@/, ':***@'))}`,
    );
  }
  if (options.artifactUrl !== '') parseS3Url(options.artifactUrl);
}

function checkHttpTimeouts(options: Options): void {
  if (options.httpRequestTimeoutMs > 0 && options.httpHeadersTimeoutMs > options.httpRequestTimeoutMs)
    throw invalidConfig(
      `option httpHeadersTimeoutMs (${options.httpHeadersTimeoutMs}) must be at most httpRequestTimeoutMs (${options.httpRequestTimeoutMs}): the headers are part of the request`,
    );
}

/**
 * Two listeners of this process on one port: refused here, naming both options, rather than
 * at start as "port in use" naming whichever listener happened to bind second.
 */
function checkPorts(options: Options): void {
  const wildcard = (host: string): boolean => host === '' || host === '0.0.0.0' || host === '::';
  const listeners: Array<{ key: keyof Options; host: string; port: number }> = [
    { key: 'grpcPort', host: options.grpcHost, port: options.grpcPort },
  ];
  if (options.registry) listeners.push({ key: 'registryPort', host: options.registryHost, port: options.registryPort });
  if (options.gateway) listeners.push({ key: 'httpPort', host: options.httpHost, port: options.httpPort });
  if (options.gateway && options.registry)
    listeners.push({ key: 'registryHttpPort', host: options.registryHost, port: options.registryHttpPort });
  if (options.metricsServer) listeners.push({ key: 'metricsPort', host: options.metricsHost, port: options.metricsPort });
  for (const [i, a] of listeners.entries()) {
    for (const b of listeners.slice(i + 1)) {
      if (a.port === 0 || a.port !== b.port || !(a.host === b.host || wildcard(a.host) || wildcard(b.host))) continue;
      throw invalidConfig(
        `options ${a.key} and ${b.key} are both ${a.port}: each listener needs a port of its own; change one with --${flagName(b.key)} or ${envName(b.key)}`,
      );
    }
  }
}

/** TLS for gRPC (both planes) and REST alike: the files are read at start (grpc/server.ts, gateway/tls.ts). */
function checkTls(options: Options): void {
  if ((options.tlsCert === '') !== (options.tlsKey === ''))
    throw invalidConfig('options tlsCert and tlsKey go together: set both or neither');
  if (options.tlsClientAuth && options.tlsClientCa === '')
    throw invalidConfig('option tlsClientAuth needs tlsClientCa (the CA client certificates are verified against)');
  if (options.tlsClientCa !== '' && options.tlsCert === '')
    throw invalidConfig('option tlsClientCa needs tlsCert and tlsKey (client certificates are checked on TLS connections)');
}

/**
 * Refuses configurations that would expose the registry (or a token-less inference plane that
 * asked for tokens) to the network: the lesson of most model-server CVEs. Called when there
 * are no tokens: by checkAuth() over the option values, and by checkTokenCount() once the
 * tokens are read.
 */
function refuseWithoutTokens(options: Options): void {
  if (options.authInference)
    throw invalidConfig('option authInference needs API tokens (authTokens or authTokensFile) with the infer scope');
  if (options.registry && !isLoopbackHost(options.registryHost) && !options.insecureRegistry)
    throw invalidConfig(
      `refusing to serve the registry on ${options.registryHost} without authentication: set authTokens or authTokensFile, bind registryHost to 127.0.0.1, or set insecureRegistry (not for production)`,
    );
}

/** Over the option values: no token source given (neither authTokens nor authTokensFile). */
function checkAuth(options: Options): void {
  if (options.authTokens.trim() === '' && options.authTokensFile === '') refuseWithoutTokens(options);
}

/**
 * checkAuth() once the tokens are read: the number of tokens is a fact of the files at start
 * (authTokensFile is read then, and may hold no entry), not of the option values.
 */
export function checkTokenCount(options: Options, tokens: number): void {
  if (tokens === 0) refuseWithoutTokens(options);
}

/** What drift detection (src/monitoring) needs beyond each option's own bounds. */
function checkDrift(options: Options): void {
  if (options.driftMinSamples > options.driftWindow)
    throw invalidConfig(
      `option driftMinSamples (${options.driftMinSamples}) must be at most driftWindow (${options.driftWindow}): the window never holds more rows`,
    );
  if (options.driftPsiThreshold <= 0)
    throw invalidConfig(`option driftPsiThreshold must be greater than 0, got ${options.driftPsiThreshold}`);
}
