/** `quiver serve`: the server, with every option of the schema as a flag. */
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { format } from 'node:util';

import * as grpc from '@grpc/grpc-js';
import { type Command, Option as CliOption } from 'commander';
import type { Logger } from 'pino';

import { envName, flagName, OPTION_DEFS, type Options, resolveOptions } from '../config/options.js';
import { invalidConfig, QuiverError } from '../core/errors.js';
import { createLogger } from '../log/logger.js';
import { QuiverServer } from '../server.js';
import { ClusterProcess, isClusterProcess } from '../serving/cluster-child.js';
import { ClusterPrimary, ClusterStartFailed } from '../serving/cluster-primary.js';
import { CliExit } from './exit.js';
import { registryFailure } from './failures.js';

function loadConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw invalidConfig(`config file ${path}: ${(err as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('must be a JSON object');
    return parsed as Record<string, unknown>;
  } catch (err) {
    throw invalidConfig(`config file ${path}: ${(err as Error).message}`);
  }
}

/** The options as `serve` (and the other commands that read the data dir) resolve them. */
export function optionsFrom(values: Record<string, unknown>): Options {
  const flags: Partial<Record<keyof Options, unknown>> = {};
  for (const def of OPTION_DEFS) {
    const key = def.key === 'models' ? 'model' : def.key;
    if (values[key] !== undefined) flags[def.key] = values[key];
  }
  const given = (values.config as string | undefined) ?? process.env.QUIVER_CONFIG;
  // Absolute at once, so the file read, its error messages and the base its relative paths
  // resolve against (its own directory) do not depend on a later change of directory.
  const configPath = given === undefined || given === '' ? undefined : resolvePath(given);
  return resolveOptions({
    ...(configPath === undefined ? {} : { file: loadConfigFile(configPath), filePath: configPath }),
    env: process.env,
    flags,
  });
}

/** Adds every schema option as a flag; values stay undefined unless given (env/file may set them). */
export function addOptionFlags(cmd: Command, only?: ReadonlyArray<keyof Options>): Command {
  cmd.option('--config <file>', 'JSON config file (QUIVER_CONFIG)');
  for (const def of OPTION_DEFS) {
    if (only !== undefined && !only.includes(def.key)) continue;
    const help = `${def.doc} (${envName(def.key)})`;
    if (def.key === 'models') {
      cmd.addOption(new CliOption('--model <name[:version]=path...>', help));
    } else if (def.kind === 'bool') {
      cmd.addOption(new CliOption(`--${flagName(def.key)}`, help));
      cmd.addOption(new CliOption(`--no-${flagName(def.key)}`, `turn off ${flagName(def.key)}`).hideHelp());
    } else {
      cmd.addOption(new CliOption(`--${flagName(def.key)} <value>`, help));
    }
  }
  return cmd;
}

export async function serve(values: Record<string, unknown>): Promise<number> {
  let options: Options;
  try {
    options = optionsFrom(values);
  } catch (err) {
    throw new CliExit(2, (err as Error).message);
  }
  const log = createLogger(options.logLevel);
  // grpc-js's own messages (a failed bind, ...) go to the JSON log, not as extra lines on stderr.
  const grpcLog = log.child({ component: 'grpc-js' });
  grpc.setLogger({
    error: (...args: unknown[]) => grpcLog.error(format(...args)),
    info: (...args: unknown[]) => grpcLog.info(format(...args)),
    debug: (...args: unknown[]) => grpcLog.debug(format(...args)),
  });
  if (isClusterProcess()) return serveOne(options, log, true);
  return options.processes > 1 ? serveProcesses(options, log) : serveOne(options, log, false);
}

/**
 * One server in this process, until a signal (or, as one of a multi-process server's
 * processes, the primary) stops it.
 */
async function serveOne(options: Options, log: Logger, inCluster: boolean): Promise<number> {
  let stop: ((reason: string, signal?: NodeJS.Signals) => void) | undefined;
  let stopAsked: string | undefined;
  const child = inCluster ? new ClusterProcess((reason) => (stop === undefined ? (stopAsked = reason) : stop(reason))) : undefined;
  // A process of a cluster: the primary serves the metrics port, with every process's sum.
  const processOptions = child === undefined ? options : { ...options, metricsServer: false };
  const processLog = child === undefined ? log : log.child({ process: child.index });
  let server: QuiverServer;
  try {
    server = await QuiverServer.start(processOptions, processLog);
  } catch (err) {
    const failure = registryFailure(options, err);
    const message = `could not start: ${(failure as Error).message}`;
    // An expected failure is logged as its one line (the stack is for --verbose, on stderr).
    processLog.fatal(failure instanceof QuiverError ? { code: failure.code } : { err }, message);
    // In a cluster the primary says it, once for all processes.
    child?.failed(message, 1);
    throw new CliExit(1, child === undefined ? message : '', { cause: failure });
  }
  if (child !== undefined) {
    server.metrics.aggregateWith(() => child.clusterMetrics());
    const ports = {
      grpcPort: server.grpcPort,
      registryPort: server.registryPort ?? null,
      httpPort: server.httpPort ?? null,
      registryHttpPort: server.registryHttpPort ?? null,
    };
    child.serving(ports, server.metrics.registry);
  }
  return new Promise<number>((resolve) => {
    let signals = 0;
    stop = (reason: string, signal?: NodeJS.Signals): void => {
      if (signal !== undefined && ++signals > 1) {
        processLog.warn({ signal }, 'second signal: exiting now');
        resolve(1);
        return;
      }
      processLog.info(signal === undefined ? { reason } : { signal }, signal === undefined ? `stopping: ${reason}` : 'signal received');
      server.shutdown().then(
        (clean) => resolve(clean ? 0 : 1),
        (err: unknown) => {
          processLog.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    const onSignal = (signal: NodeJS.Signals): void => stop?.('signal', signal);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (stopAsked !== undefined) stop(stopAsked);
  });
}

/** A multi-process server: this process is the cluster primary (src/serving/cluster-primary.ts). */
async function serveProcesses(options: Options, log: Logger): Promise<number> {
  const primary = new ClusterPrimary(options, log);
  // From the start: a signal while the processes start stops them too.
  const onSignal = (signal: NodeJS.Signals): void => {
    log.info({ signal }, 'signal received: draining every server process');
    primary.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await primary.start();
  } catch (err) {
    if (err instanceof ClusterStartFailed) throw new CliExit(err.code, err.message);
    const failure = registryFailure(options, err);
    log.fatal(failure instanceof QuiverError ? { code: failure.code } : { err }, `could not start: ${(failure as Error).message}`);
    throw new CliExit(1, `could not start: ${(failure as Error).message}`, { cause: failure });
  }
  const code = await primary.exited;
  log.info({ code }, 'stopped');
  return code;
}
