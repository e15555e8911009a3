/** The soak benchmark's command-line options (benchmarks/soak.ts lists them), parsed and checked. */
import { parseArgs } from 'node:util';

/** The registry model every run serves and promotes. */
export const MODEL = 'soak';

export interface SoakOptions {
  readonly minutes: number;
  readonly cycles: number;
  /** Requests per second, and at most this many in flight. */
  readonly rate: number;
  readonly inFlight: number;
  readonly warmupS: number;
  readonly cycleS: number;
  readonly sampleS: number;
  /** One MLP version per size (two or more). */
  readonly hidden: number[];
  /** --workers as given, passed on to `quiver serve`. */
  readonly workers: string | undefined;
  readonly noControl: boolean;
  readonly label: string;
  /** Extra environment for the server (--server-env K=V). */
  readonly serverEnv: Record<string, string>;
  readonly source: boolean;
}

/** The options of this process's command line; throws on an unknown or bad one. */
export function parseSoakOptions(): SoakOptions {
  const { values: args } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      cycles: { type: 'string', default: '50' },
      rate: { type: 'string', default: '400' },
      'in-flight': { type: 'string', default: '32' },
      warmup: { type: 'string', default: '30' },
      'cycle-seconds': { type: 'string', default: '5' },
      sample: { type: 'string', default: '10' },
      hidden: { type: 'string', default: '1024,768' },
      workers: { type: 'string' },
      'no-control': { type: 'boolean', default: false },
      label: { type: 'string', default: '' },
      'server-env': { type: 'string', multiple: true, default: [] },
      source: { type: 'boolean', default: false },
    },
  });
  const options: SoakOptions = {
    minutes: Number(args.minutes),
    cycles: Number(args.cycles),
    rate: Number(args.rate),
    inFlight: Number(args['in-flight']),
    warmupS: Number(args.warmup),
    cycleS: Number(args['cycle-seconds']),
    sampleS: Number(args.sample),
    hidden: args.hidden.split(',').map(Number),
    workers: args.workers,
    noControl: args['no-control'],
    label: args.label,
    serverEnv: Object.fromEntries(args['server-env'].map((kv) => [kv.split('=')[0] as string, kv.split('=').slice(1).join('=')])),
    source: args.source,
  };
  if (options.hidden.length < 2 || options.hidden.some((h) => !(h > 0))) throw new Error('--hidden needs two or more sizes, e.g. 1024,768');
  return options;
}
