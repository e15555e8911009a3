/**
 * The tables the documentation carries, generated from the code (tests keep them equal): the
 * configuration table in docs/configuration.md from the options schema, and the error table
 * in docs/errors.md from the error codes.
 */
import { Code, ERROR_CODES, ERROR_MEANINGS, grpcStatusOf, httpStatusOf } from '../core/errors.js';
import { envName, flagName, OPTION_DEFS } from './options.js';

function defaultText(key: string, value: unknown): string {
  if (key === 'workers') return 'cores / processes - 1 (min 1)';
  if (key === 'intraOpThreads') return '(cores / processes - 1) / workers (min 1)';
  if (key === 'maxInflight') return 'maxQueueRows + workers x tasksPerWorker x maxBatchRows (min 1024)';
  if (key === 'registryPollMs') return '250 ms (embedded), 5000 ms (PostgreSQL)';
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',');
  if (value === '') return '(none)';
  return String(value);
}

export function optionsTable(): string {
  const rows = ['| option (config file) | environment | flag | default | meaning |', '|---|---|---|---|---|'];
  const partial: Record<string, unknown> = {};
  for (const def of OPTION_DEFS) {
    const value = def.default(partial);
    partial[def.key] = value;
    const flag = def.key === 'models' ? '`--model`' : `\`--${flagName(def.key)}\``;
    const unit = def.unit === undefined || def.key === 'registryPollMs' ? '' : ` ${def.unit}`;
    rows.push(
      `| \`${def.key}\` | \`${envName(def.key)}\` | ${flag} | ${defaultText(def.key, value)}${unit} | ${def.doc.replace(/\|/g, '\\|')} |`,
    );
  }
  return rows.join('\n');
}

/** Every `QUIVER_ERR_*` code with its gRPC status and its HTTP status (the one table). */
export function errorsTable(): string {
  const rows = ['| code | gRPC status | HTTP status | meaning |', '|---|---|---|---|'];
  for (const code of ERROR_CODES) {
    rows.push(`| \`${code}\` | \`${Code[grpcStatusOf(code)]}\` | ${httpStatusOf(code)} | ${ERROR_MEANINGS[code].replace(/\|/g, '\\|')} |`);
  }
  return rows.join('\n');
}
