/** The audit log: every registry change, newest first, filtered by model, action, actor or version. */
import { useState } from 'preact/hooks';

import { LoadState } from '../action.js';
import { time } from '../format.js';
import { useLoad } from '../load.js';
import { AUDIT_LIMIT, newestAudit } from '../registry-data.js';
import { modelHref } from '../route.js';

export function AuditPage({ model: initialModel }: { model: string }) {
  const loaded = useLoad(() => newestAudit(''), 'audit');
  const [model, setModel] = useState(initialModel);
  const [action, setAction] = useState('');
  const [actor, setActor] = useState('');
  const [version, setVersion] = useState('');
  const entries = loaded.data ?? [];
  const models = [...new Set(entries.map((e) => e.modelName ?? ''))].sort();
  const actions = [...new Set(entries.map((e) => e.action ?? ''))].sort();
  const shown = entries.filter(
    (e) =>
      (model === '' || e.modelName === model) &&
      (action === '' || e.action === action) &&
      (actor.trim() === '' || (e.actor ?? '').toLowerCase().includes(actor.trim().toLowerCase())) &&
      (version.trim() === '' || String(e.version ?? '') === version.trim()),
  );
  return (
    <>
      <h1 tabIndex={-1}>Audit log</h1>
      <LoadState error={loaded.error} loading={loaded.data === undefined} />
      {loaded.data !== undefined && (
        <section class="card">
          <form class="filters" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
            <label class="field">
              <span>Model</span>
              <select value={model} onChange={(e) => setModel((e.target as HTMLSelectElement).value)} data-filter="model">
                <option value="">all models</option>
                {models.map((m) => (
                  <option key={m} value={m}>
                    {m}
                  </option>
                ))}
              </select>
            </label>
            <label class="field">
              <span>Action</span>
              <select value={action} onChange={(e) => setAction((e.target as HTMLSelectElement).value)} data-filter="action">
                <option value="">all actions</option>
                {actions.map((a) => (
                  <option key={a} value={a}>
                    {a}
                  </option>
                ))}
              </select>
            </label>
            <label class="field">
              <span>Actor contains</span>
              <input value={actor} onInput={(e) => setActor((e.target as HTMLInputElement).value)} data-filter="actor" />
            </label>
            <label class="field">
              <span>Version</span>
              <input
                inputMode="numeric"
                value={version}
                onInput={(e) => setVersion((e.target as HTMLInputElement).value)}
                data-filter="version"
              />
            </label>
            <span role="status" data-field="shown">
              {shown.length} of {entries.length === AUDIT_LIMIT ? `the newest ${entries.length}` : entries.length} entries
            </span>
          </form>
          <table data-table="audit">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Model</th>
                <th scope="col">Version</th>
                <th scope="col">Alias</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <tr key={e.id} data-audit={e.id}>
                  <td>{e.id}</td>
                  <td>{time(e.at)}</td>
                  <td>{e.actor}</td>
                  <td>{e.action}</td>
                  <td>
                    <a href={modelHref(e.modelName ?? '')}>{e.modelName}</a>
                  </td>
                  <td>{e.version || ''}</td>
                  <td>{e.alias}</td>
                  <td>
                    <code>{e.detail === '{}' ? '' : e.detail}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </>
  );
}
