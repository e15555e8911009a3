/**
 * The runs of an experiment (the role of MLflow's experiment view): every training run that
 * registered a version, with its parameters and metrics, sortable by any column.
 */
import { useState } from 'preact/hooks';

import type { ModelVersion } from '../../../gateway/client/registry-messages.js';
import { LoadState } from '../action.js';
import { metricNames } from '../evaluation.js';
import { num, time } from '../format.js';
import { useLoad } from '../load.js';
import { allModels, allVersions } from '../registry-data.js';
import { runsHref, versionHref } from '../route.js';

type SortKey = { kind: 'created' } | { kind: 'version' } | { kind: 'algorithm' } | { kind: 'metric'; name: string };

const keyName = (k: SortKey): string => (k.kind === 'metric' ? `metric:${k.name}` : k.kind);

function sortValue(v: ModelVersion, key: SortKey): number | string {
  switch (key.kind) {
    case 'created':
      return v.createdAt ?? '';
    case 'version':
      return `${v.modelName ?? ''}\u0000${String(v.version ?? 0).padStart(12, '0')}`;
    case 'algorithm':
      return v.lineage?.algorithm ?? '';
    case 'metric':
      return v.lineage?.metrics?.[key.name] ?? Number.NEGATIVE_INFINITY;
  }
}

export function RunsPage({ experiment }: { experiment: string }) {
  const loaded = useLoad(async () => {
    const models = await allModels();
    return (await Promise.all(models.map((m) => allVersions(m.name ?? '')))).flat();
  }, 'runs');
  const [sort, setSort] = useState<{ key: SortKey; descending: boolean }>({ key: { kind: 'created' }, descending: true });
  const runs = loaded.data ?? [];
  const experiments = [...new Set(runs.map((v) => v.lineage?.experimentName ?? '').filter((e) => e !== ''))].sort();
  const current = experiment !== '' ? experiment : (experiments[0] ?? '');
  const mine = runs.filter((v) => (v.lineage?.experimentName ?? '') === current);
  const metrics = metricNames(mine.map((v) => v.lineage?.metrics));
  const sorted = [...mine].sort((a, b) => {
    const x = sortValue(a, sort.key);
    const y = sortValue(b, sort.key);
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return sort.descending ? -c : c;
  });
  const header = (label: string, key: SortKey, numeric = false) => {
    const active = keyName(sort.key) === keyName(key);
    return (
      <th scope="col" class={numeric ? 'num' : undefined} aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : 'none'}>
        <button
          type="button"
          class="sort"
          data-sort={keyName(key)}
          onClick={() => setSort({ key, descending: active ? !sort.descending : true })}
        >
          {label}
          {active ? (sort.descending ? ' ↓' : ' ↑') : ''}
        </button>
      </th>
    );
  };
  return (
    <>
      <h1 tabIndex={-1}>Runs{current !== '' ? ` of experiment ${current}` : ''}</h1>
      <LoadState error={loaded.error} loading={loaded.data === undefined} />
      {loaded.data !== undefined && (
        <section class="card">
          <div class="filters">
            <label class="field">
              <span>Experiment</span>
              <select value={current} onChange={(e) => (location.hash = runsHref((e.target as HTMLSelectElement).value))}>
                {experiments.map((e) => (
                  <option key={e} value={e}>
                    {e}
                  </option>
                ))}
              </select>
            </label>
            <span class="muted">{mine.length} runs; choose a column heading to sort by it.</span>
          </div>
          <table data-table="runs">
            <thead>
              <tr>
                <th scope="col">Run</th>
                {header('Version', { kind: 'version' })}
                {header('Algorithm', { kind: 'algorithm' })}
                {header('Created', { kind: 'created' })}
                <th scope="col">Parameters</th>
                {metrics.map((m) => header(m, { kind: 'metric', name: m }, true))}
              </tr>
            </thead>
            <tbody>
              {sorted.map((v) => (
                <tr key={`${v.modelName}/${v.version}`} data-run={v.lineage?.runId} data-version={`${v.modelName}/${v.version}`}>
                  <td>
                    <code title={v.lineage?.runId}>{(v.lineage?.runId ?? '').slice(0, 8) || '—'}</code>
                  </td>
                  <td>
                    <a href={versionHref(v.modelName ?? '', v.version ?? 0)}>
                      {v.modelName} v{v.version}
                    </a>
                  </td>
                  <td>{v.lineage?.algorithm || '—'}</td>
                  <td>{time(v.createdAt)}</td>
                  <td>
                    {Object.entries(v.lineage?.params ?? {})
                      .sort(([a], [b]) => a.localeCompare(b))
                      .map(([k, val]) => `${k}=${val}`)
                      .join(', ')}
                  </td>
                  {metrics.map((m) => (
                    <td class="num" key={m} data-metric={m}>
                      {num(v.lineage?.metrics?.[m])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          {experiments.length === 0 && <p>No training runs registered yet: `quiver train --experiment-name E` records one.</p>}
        </section>
      )}
    </>
  );
}
