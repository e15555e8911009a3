/**
 * `quiver registry ...` and `quiver promote`: the registry from the command line. They open
 * the registry in the data directory directly (SQLite allows a running server to share it:
 * the server notices the change within registryPollMs).
 */
import { hostname, userInfo } from 'node:os';

import type { Command } from 'commander';

import { invalidArgument } from '../core/errors.js';
import { Lineage } from '../gen/quiver/v1/registry.js';
import { Registry, registryOptions } from '../registry/registry.js';
import type { StageName, VersionRecord } from '../registry/types.js';
import { registryFailure, withListHint } from './failures.js';
import { readInput } from './files.js';
import { addOptionFlags, optionsFrom } from './serve.js';

export function actor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `cli@${hostname()}`;
  }
}

export async function openRegistry(values: Record<string, unknown>): Promise<Registry> {
  const options = optionsFrom(values);
  try {
    return await Registry.open(registryOptions(options));
  } catch (err) {
    throw registryFailure(options, err);
  }
}

/** Runs `fn` on the registry; an unknown model, version or alias says how to list them. */
export async function withRegistry<T>(values: Record<string, unknown>, fn: (r: Registry) => Promise<T>): Promise<T> {
  const registry = await openRegistry(values);
  try {
    return await fn(registry);
  } catch (err) {
    throw withListHint(err);
  } finally {
    await registry.close();
  }
}

async function* chunksOf(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

export function versionSummary(v: VersionRecord): Record<string, unknown> {
  return {
    model: v.modelName,
    version: v.version,
    stage: v.stage,
    aliases: v.aliases,
    sha256: v.sha256,
    size_bytes: v.sizeBytes,
    created_by: v.createdBy,
    created_at: v.createdAt.toISOString(),
    description: v.description,
    metrics: Object.fromEntries(v.lineage.metrics),
  };
}

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

const STAGES: Record<string, StageName> = { none: 'None', staging: 'Staging', production: 'Production', archived: 'Archived' };

export function parseStage(text: string): StageName {
  const stage = STAGES[text.toLowerCase()];
  if (stage === undefined) throw invalidArgument(`--stage: '${text}' is not a stage; use Production, Staging, Archived or None`);
  return stage;
}

export function addRegistryCommands(program: Command): void {
  const registry = program.command('registry').description('the model registry in the data directory');

  addOptionFlags(
    registry
      .command('upload')
      .description('register an ONNX file (from any tool) as a new version')
      .requiredOption('--model-name <name>', 'the registered model')
      .requiredOption('--file <path>', 'the ONNX file')
      .option('--description <text>', 'version description', '')
      .option('--tag <key=value...>', 'version tags'),
    ['dataDir', 'registryUrl', 'artifactUrl', 's3Endpoint', 's3ForcePathStyle', 'maxUploadBytes'],
  ).action(async (values: Record<string, unknown>) => {
    const bytes = readInput('--file', values.file as string);
    const tags = Object.fromEntries(
      ((values.tag as string[] | undefined) ?? []).map((t) => [t.split('=')[0] ?? t, t.split('=').slice(1).join('=')]),
    );
    const v = await withRegistry(values, (r) =>
      r.createVersion(
        {
          modelName: values.modelName as string,
          description: values.description as string,
          tags,
          lineage: Lineage.fromPartial({ datasetName: '', codeVersion: 'upload' }),
          expectedSha256: '',
        },
        chunksOf(bytes),
        actor(),
      ),
    );
    print(versionSummary(v));
  });

  addOptionFlags(registry.command('list').description('list registered models'), [
    'dataDir',
    'registryUrl',
    'artifactUrl',
    's3Endpoint',
    's3ForcePathStyle',
  ]).action(async (values: Record<string, unknown>) => {
    const models = await withRegistry(values, async (r) => (await r.listModels(1000, '')).items);
    print(models.map((m) => ({ name: m.name, latest_version: m.latestVersion, aliases: m.aliases, description: m.description })));
  });

  addOptionFlags(
    registry
      .command('versions')
      .description("list a model's versions")
      .requiredOption('--model-name <name>', 'the registered model')
      .option('--stage <stage>', 'only this stage'),
    ['dataDir', 'registryUrl', 'artifactUrl', 's3Endpoint', 's3ForcePathStyle'],
  ).action(async (values: Record<string, unknown>) => {
    const stage = values.stage === undefined ? undefined : parseStage(values.stage as string);
    const versions = await withRegistry(values, async (r) => (await r.listVersions(values.modelName as string, stage, 1000, '')).items);
    print(versions.map(versionSummary));
  });

  addOptionFlags(registry.command('audit').description('the audit trail').option('--model-name <name>', 'only this model', ''), [
    'dataDir',
  ]).action(async (values: Record<string, unknown>) => {
    const entries = await withRegistry(values, async (r) => (await r.auditLog(values.modelName as string, 1000, '')).items);
    print(
      entries.map((e) => ({
        id: e.id,
        at: e.at.toISOString(),
        actor: e.actor,
        action: e.action,
        model: e.modelName,
        version: e.version,
        alias: e.alias,
        detail: e.detail,
      })),
    );
  });

  addOptionFlags(
    program
      .command('promote')
      .description('move a version to a stage (Production, Staging, Archived, None), or point an alias at it')
      .requiredOption('--model-name <name>', 'the registered model')
      .requiredOption('--version <n>', 'the version number')
      .option('--stage <stage>', 'Production, Staging, Archived or None')
      .option('--alias <name>', 'point this alias at the version instead of changing its stage')
      .option('--description <text>', 'new version description')
      .option('--no-archive-existing', 'keep the version that held the stage (default: archive it)'),
    ['dataDir', 'registryUrl', 'artifactUrl', 's3Endpoint', 's3ForcePathStyle'],
  ).action(async (values: Record<string, unknown>) => {
    const version = Number(values.version);
    if (!Number.isInteger(version) || version < 1)
      throw invalidArgument(`--version: '${String(values.version)}' is not a version number (1, 2, 3, ...)`);
    const v = await withRegistry(values, async (r) => {
      if (values.alias !== undefined) {
        if (values.stage !== undefined) throw invalidArgument('give --stage or --alias, not both');
        const set = await r.setAlias(values.modelName as string, values.alias as string, version, actor());
        return values.description === undefined
          ? set
          : r.updateVersion(set.modelName, set.version, { description: values.description as string }, actor());
      }
      if (values.stage === undefined) throw invalidArgument('give --stage Production|Staging|Archived|None or --alias NAME');
      return r.transitionStage(
        values.modelName as string,
        version,
        parseStage(values.stage as string),
        values.archiveExisting !== false,
        values.description as string | undefined,
        actor(),
      );
    });
    print(versionSummary(v));
  });
}
