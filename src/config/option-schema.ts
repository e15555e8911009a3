/**
 * What the options are: the resolved `Options` the server runs with, and what defines one
 * option in the table (option-table.ts): its kind, bounds, default, unit and documentation.
 */

export interface ModelSpec {
  readonly name: string;
  readonly version: number;
  readonly path: string;
}

export interface Options {
  readonly grpcHost: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly dataDir: string;
  readonly models: readonly ModelSpec[];
  readonly modelRepository: string;
  readonly demo: boolean;
  readonly processes: number;
  readonly workers: number;
  readonly intraOpThreads: number;
  readonly tasksPerWorker: number;
  readonly inlineMaxUs: number;
  readonly maxBatchRows: number;
  readonly maxQueueDelayUs: number;
  readonly maxQueueRows: number;
  readonly maxQueueWaitMs: number;
  readonly queueTargetMs: number;
  readonly latencyTargetMs: number;
  readonly latencyTargets: string;
  readonly maxInflight: number;
  readonly maxRequestRows: number;
  readonly retryPushbackMs: number;
  readonly rejectNonFinite: boolean;
  readonly maxReceiveMessageBytes: number;
  readonly maxSendMessageBytes: number;
  readonly maxConcurrentStreams: number;
  readonly keepaliveTimeMs: number;
  readonly keepaliveTimeoutMs: number;
  readonly maxConnectionAgeMs: number;
  readonly maxConnectionAgeGraceMs: number;
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  readonly registryHost: string;
  readonly registryPort: number;
  readonly registryHttpPort: number;
  readonly registryRestOnHttpPort: boolean;
  readonly authTokens: string;
  readonly authTokensFile: string;
  readonly authInference: boolean;
  readonly insecureRegistry: boolean;
  readonly tlsCert: string;
  readonly tlsKey: string;
  readonly tlsClientCa: string;
  readonly tlsClientAuth: boolean;
  readonly trialLoad: boolean;
  readonly trialTimeoutMs: number;
  readonly trialMaxMemoryMb: number;
  readonly gateway: boolean;
  readonly driftWindow: number;
  readonly driftMinSamples: number;
  readonly driftPsiThreshold: number;
  readonly driftKsAlpha: number;
  readonly predictionLogSampleRate: number;
  readonly predictionLogMaxRowsPerSecond: number;
  readonly predictionLogFeatures: string;
  readonly predictionLogMaxRows: number;
  readonly predictionLogMaxAgeHours: number;
  readonly liveQualityMinSamples: number;
  readonly metrics: boolean;
  readonly metricsServer: boolean;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly httpHost: string;
  readonly httpRequestTimeoutMs: number;
  readonly httpHeadersTimeoutMs: number;
  readonly httpKeepAliveTimeoutMs: number;
  readonly maxHttpBodyBytes: number;
  readonly maxJsonDepth: number;
  readonly defaultModel: string;
  readonly registry: boolean;
  readonly registryUrl: string;
  readonly artifactUrl: string;
  readonly s3Endpoint: string;
  readonly s3ForcePathStyle: boolean;
  readonly registryPollMs: number;
  readonly maxUploadBytes: number;
}

/** `path`: a file or directory, made absolute when options are resolved (see absolute()). */
export type OptionKind = 'string' | 'path' | 'port' | 'int' | 'number' | 'bool' | 'enum' | 'models';

export interface OptionDef {
  readonly key: keyof Options;
  readonly kind: OptionKind;
  /** Lower bound for `int` options. */
  readonly min?: number;
  /** Upper bound for `int` options. */
  readonly max?: number;
  readonly values?: readonly string[];
  readonly default: (partial: Partial<Record<keyof Options, unknown>>) => unknown;
  readonly unit?: string;
  readonly doc: string;
}

/** The unit the byte-sized defaults are written in. */
export const MiB = 1024 * 1024;
