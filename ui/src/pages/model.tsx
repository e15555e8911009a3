/**
 * A model's page: its versions with stage, aliases and who changed them when (from the audit
 * log), the actions that change what is served, each version's lineage and metrics, and two
 * versions compared on their evaluations.
 */
import { useState } from 'preact/hooks';

import type { AuditEntry, Evaluation, ModelVersion, Stage } from '../../../gateway/client/registry-messages.js';
import { ActionButton, LoadState } from '../action.js';
import { RegistryService, init } from '../api.js';
import { EvaluationComparison, MetricsTable } from '../evaluation.js';
import { count, shortSha, stageName, time } from '../format.js';
import { useLoad } from '../load.js';
import { allVersions, newestAudit } from '../registry-data.js';
import { runsHref, versionHref } from '../route.js';

const STAGES: ReadonlyArray<{ value: Stage; label: string }> = [
  { value: 'STAGE_PRODUCTION', label: 'Production' },
  { value: 'STAGE_STAGING', label: 'Staging' },
  { value: 'STAGE_ARCHIVED', label: 'Archived' },
  { value: 'STAGE_NONE', label: 'None' },
];

/** The newest audit entry about a version (`audit` is newest first): who last changed it, and when. */
const lastChange = (audit: readonly AuditEntry[], version: number): AuditEntry | undefined => audit.find((e) => e.version === version);

function VersionActions({ model, v, onDone }: { model: string; v: ModelVersion; onDone: () => void }) {
  const version = v.version ?? 0;
  const [stage, setStage] = useState<Stage>('STAGE_STAGING');
  const [alias, setAlias] = useState('');
  return (
    <div class="actions">
      <ActionButton
        scope="registry:promote"
        label={`Promote version ${version} to Production`}
        disabled={v.stage === 'STAGE_PRODUCTION'}
        testId={`promote-${version}`}
        run={() => RegistryService.TransitionStage({ modelName: model, version, stage: 'STAGE_PRODUCTION', archiveExisting: true }, init())}
        onDone={onDone}
      >
        Promote
      </ActionButton>
      <label class="field">
        <span>Stage for version {version}</span>
        <select value={stage} onChange={(e) => setStage((e.target as HTMLSelectElement).value as Stage)}>
          {STAGES.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </label>
      <ActionButton
        scope="registry:promote"
        label={`Move version ${version} to the chosen stage`}
        testId={`transition-${version}`}
        run={() => RegistryService.TransitionStage({ modelName: model, version, stage, archiveExisting: false }, init())}
        onDone={onDone}
      >
        Move
      </ActionButton>
      <label class="field">
        <span>Alias for version {version}</span>
        <input value={alias} onInput={(e) => setAlias((e.target as HTMLInputElement).value)} placeholder="e.g. champion" />
      </label>
      <ActionButton
        scope="registry:promote"
        label={`Set alias on version ${version}`}
        testId={`alias-${version}`}
        run={() => RegistryService.SetAlias({ modelName: model, alias: alias.trim(), version }, init())}
        onDone={onDone}
      >
        Set alias
      </ActionButton>
    </div>
  );
}

function Lineage({ v }: { v: ModelVersion }) {
  const l = v.lineage ?? {};
  return (
    <dl class="lineage" data-lineage={v.version}>
      <dt>Data set</dt>
      <dd>
        {l.datasetName || '—'}: <code title={l.datasetSha256}>{shortSha(l.datasetSha256) || '—'}</code>, {count(l.datasetRows)} rows
      </dd>
      <dt>Algorithm</dt>
      <dd>{l.algorithm || '—'}</dd>
      <dt>Parameters</dt>
      <dd>
        {Object.entries(l.params ?? {})
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, val]) => `${k}=${val}`)
          .join(', ') || '—'}
      </dd>
      <dt>Code version</dt>
      <dd>
        <code>{l.codeVersion || '—'}</code>
      </dd>
      <dt>Experiment</dt>
      <dd>{l.experimentName ? <a href={runsHref(l.experimentName)}>{l.experimentName}</a> : '—'}</dd>
      <dt>Run</dt>
      <dd>
        <code>{l.runId || '—'}</code>
      </dd>
      <dt>Artifact</dt>
      <dd>
        <code title={v.sha256}>{shortSha(v.sha256)}</code>, {count(v.sizeBytes)} bytes
      </dd>
    </dl>
  );
}

function Compare({ model, versions }: { model: string; versions: readonly ModelVersion[] }) {
  const numbers = versions.map((v) => v.version ?? 0);
  const production = versions.find((v) => v.stage === 'STAGE_PRODUCTION')?.version;
  const [a, setA] = useState(String(production ?? numbers[0] ?? ''));
  const [b, setB] = useState(String(numbers.find((n) => String(n) !== a) ?? numbers[0] ?? ''));
  const evaluations = useLoad<[Evaluation | undefined, Evaluation | undefined]>(async () => {
    const [ea, eb] = await Promise.all(
      [a, b].map((v) => RegistryService.ListEvaluations({ modelName: model, version: v }, init()).then((r) => r.evaluations?.[0])),
    );
    return [ea, eb];
  }, `${a}:${b}`);
  const select = (label: string, value: string, set: (v: string) => void) => (
    <label class="field">
      <span>{label}</span>
      <select value={value} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
        {numbers.map((n) => (
          <option key={n} value={String(n)}>
            version {n}
          </option>
        ))}
      </select>
    </label>
  );
  const [ea, eb] = evaluations.data ?? [undefined, undefined];
  return (
    <section class="card" aria-labelledby="compare-heading">
      <h2 id="compare-heading">Compare two versions</h2>
      <div class="filters">
        {select('First version', a, setA)}
        {select('Second version', b, setB)}
      </div>
      <LoadState error={evaluations.error} loading={evaluations.data === undefined} />
      {evaluations.data !== undefined && (ea === undefined || eb === undefined) && (
        <p>
          {ea === undefined ? `Version ${a}` : `Version ${b}`} has no recorded evaluation: `quiver train` records one, and so does `quiver
          evaluate`.
        </p>
      )}
      {ea !== undefined && eb !== undefined && (
        <EvaluationComparison a={{ label: `version ${a}`, evaluation: ea }} b={{ label: `version ${b}`, evaluation: eb }} />
      )}
    </section>
  );
}

export function ModelPage({ name }: { name: string }) {
  const loaded = useLoad(async () => {
    const [model, versions, audit] = await Promise.all([RegistryService.GetModel({ name }, init()), allVersions(name), newestAudit(name)]);
    return { model: model.model ?? {}, versions: [...versions].sort((x, y) => (y.version ?? 0) - (x.version ?? 0)), audit };
  }, name);
  const data = loaded.data;
  return (
    <>
      <h1 tabIndex={-1}>Model {name}</h1>
      <LoadState error={loaded.error} loading={data === undefined} />
      {data !== undefined && (
        <>
          <p class="muted">
            {data.model.description || 'No description.'} Latest version {data.model.latestVersion ?? '—'}.{' '}
            <a href={`#/audit?model=${encodeURIComponent(name)}`}>Its audit log</a>.
          </p>
          <section class="card" aria-labelledby="versions-heading">
            <h2 id="versions-heading">Versions</h2>
            <table data-table="versions">
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Stage</th>
                  <th scope="col">Aliases</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last change</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {data.versions.map((v) => {
                  const version = v.version ?? 0;
                  const change = lastChange(data.audit, version);
                  return (
                    <tr key={version} data-version={version}>
                      <th scope="row">
                        <a href={versionHref(name, version)}>{version}</a>
                      </th>
                      <td data-field="stage">{stageName(v.stage)}</td>
                      <td data-field="aliases">
                        {(v.aliases ?? []).map((alias) => (
                          <span class="chip" key={alias}>
                            {alias}
                            <ActionButton
                              scope="registry:promote"
                              label={`Remove alias ${alias} from version ${version}`}
                              testId={`unalias-${alias}`}
                              compact
                              run={() => RegistryService.DeleteAlias({ modelName: name, alias }, init())}
                              onDone={loaded.reload}
                            >
                              ×
                            </ActionButton>
                          </span>
                        ))}
                      </td>
                      <td>
                        {v.createdBy} at {time(v.createdAt)}
                      </td>
                      <td data-field="last-change">
                        {change === undefined ? '—' : `${change.action} by ${change.actor} at ${time(change.at)}`}
                      </td>
                      <td>
                        <VersionActions model={name} v={v} onDone={loaded.reload} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </section>
          <section class="card" aria-labelledby="metrics-heading">
            <h2 id="metrics-heading">Metrics</h2>
            <MetricsTable
              caption="Each version's metrics as registered (quiver train: its holdout)"
              columns={data.versions.map((v) => ({ label: `version ${v.version ?? 0}`, metrics: v.lineage?.metrics }))}
            />
          </section>
          <section class="card" aria-labelledby="lineage-heading">
            <h2 id="lineage-heading">Lineage</h2>
            {data.versions.map((v) => (
              <div key={v.version}>
                <h3>Version {v.version}</h3>
                <Lineage v={v} />
              </div>
            ))}
          </section>
          {data.versions.length > 0 && <Compare model={name} versions={data.versions} />}
        </>
      )}
    </>
  );
}
