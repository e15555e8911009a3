/** The overload benchmark's command-line options (benchmarks/overload.ts lists them), parsed and checked. */
import { parseArgs } from 'node:util';

export interface OverloadOptions {
  readonly durationS: number;
  readonly warmupS: number;
  readonly deadlineMs: number;
  readonly multipliers: number[];
  readonly generators: number;
  readonly connections: number;
  readonly capacityConcurrency: number;
  /** --capacity: the capacity given, skipping its measurement (and h2load's reference run). */
  readonly capacity: string | undefined;
  readonly serverArgs: string[];
  readonly bulk: 'h2load' | 'none';
  readonly bulkAbove: number;
  readonly probeRate: number;
  readonly bulkRatePerConnection: number;
  readonly source: boolean;
  readonly label: string;
  /** 0: the demo model; N: an MLP 10-N-N-2. */
  readonly hidden: number;
  /** The model, in words, for the report. */
  readonly modelText: string;
}

/** The options of this process's command line; throws on an unknown or bad one. */
export function parseOverloadOptions(): OverloadOptions {
  const { values: args } = parseArgs({
    options: {
      duration: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      'deadline-ms': { type: 'string', default: '1000' },
      multipliers: { type: 'string', default: '0.5,0.8,1,2,4' },
      generators: { type: 'string', default: '2' },
      connections: { type: 'string', default: '4' },
      'capacity-concurrency': { type: 'string', default: '64' },
      capacity: { type: 'string' },
      'server-arg': { type: 'string', multiple: true, default: [] },
      bulk: { type: 'string', default: 'h2load' },
      'bulk-above': { type: 'string', default: '1' },
      'probe-rate': { type: 'string', default: '500' },
      'bulk-rate-per-connection': { type: 'string', default: '500' },
      source: { type: 'boolean', default: false },
      label: { type: 'string', default: '' },
      // 0: the demo model (transport-bound: the main thread's gRPC work is the limit). N: an MLP
      // 10-N-N-2 (benchmarks/lib/mlp-model.ts), inference-bound when N is large (4096: ~34 MFLOP a row).
      hidden: { type: 'string', default: '0' },
    },
  });
  const hidden = Number(args.hidden);
  const options: OverloadOptions = {
    durationS: Number(args.duration),
    warmupS: Number(args.warmup),
    deadlineMs: Number(args['deadline-ms']),
    multipliers: args.multipliers.split(',').map(Number),
    generators: Number(args.generators),
    connections: Number(args.connections),
    capacityConcurrency: Number(args['capacity-concurrency']),
    capacity: args.capacity,
    serverArgs: args['server-arg'],
    bulk: args.bulk as 'h2load' | 'none',
    bulkAbove: Number(args['bulk-above']),
    probeRate: Number(args['probe-rate']),
    bulkRatePerConnection: Number(args['bulk-rate-per-connection']),
    source: args.source,
    label: args.label,
    hidden,
    modelText: hidden > 0 ? `an MLP 10-${hidden}-${hidden}-2 (inference-bound)` : 'the demo model',
  };
  if (args.bulk !== 'h2load' && args.bulk !== 'none') throw new Error('--bulk is h2load or none');
  if (options.multipliers.some((m) => !(m > 0)) || !(options.generators >= 1) || !(options.connections >= 1))
    throw new Error('bad options');
  return options;
}
