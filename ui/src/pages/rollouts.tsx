/**
 * Rollouts: each model's newest rollout (its steps, every check with its figures, the verdict
 * and the live weight), its history from the audit log, and the actions: start, promote now,
 * abort.
 */
import { useState } from 'preact/hooks';

import type { AuditEntry, RegisteredModel, Rollout } from '../../../gateway/client/registry-messages.js';
import { ActionButton, LoadState } from '../action.js';
import { RegistryService, init } from '../api.js';
import { count, num, time } from '../format.js';
import { useLoad } from '../load.js';
import { allModels, detailOf, newestAudit } from '../registry-data.js';
import { modelHref, versionHref } from '../route.js';

const REFRESH_MS = 2000;

function RolloutCard({ r, history, onDone }: { r: Rollout; history: readonly AuditEntry[]; onDone: () => void }) {
  const model = r.modelName ?? '';
  const steps = r.policy?.steps ?? [];
  const running = r.state === 'running';
  return (
    <section class="card" data-rollout={model} aria-labelledby={`rollout-${r.id}`}>
      <h2 id={`rollout-${r.id}`}>
        <a href={modelHref(model)}>{model}</a>: {r.strategy} of version {r.candidateVersion} against {r.baselineVersion}
      </h2>
      <table data-table="rollout">
        <tbody>
          <tr>
            <th scope="row">State</th>
            <td data-field="state">
              <span class={r.state === 'rolled_back' || r.state === 'failed' ? 'flag-bad' : r.state === 'promoted' ? 'flag-ok' : undefined}>
                {r.state}
              </span>
              {r.reason ? `: ${r.reason}` : ''}
            </td>
          </tr>
          <tr>
            <th scope="row">Candidate's share now</th>
            <td data-field="weight">{num(r.weight, 1)}%</td>
          </tr>
          <tr>
            <th scope="row">Steps</th>
            <td data-field="steps">
              {steps.map((s, i) => (
                <span class="chip" key={i} aria-current={i === r.step && running ? 'step' : undefined}>
                  {i === r.step ? <strong>{s}%</strong> : `${s}%`}
                </span>
              ))}{' '}
              (step {(r.step ?? 0) + 1} of {steps.length}, {r.policy?.intervalSeconds ?? '—'} s each)
            </td>
          </tr>
          <tr>
            <th scope="row">Started</th>
            <td>
              by {r.actor} at {time(r.startedAt)}; updated {time(r.updatedAt)}
            </td>
          </tr>
          {r.strategy === 'shadow' && (
            <tr>
              <th scope="row">Disagreement</th>
              <td data-field="disagreement">{num(r.disagreementRatio)}</td>
            </tr>
          )}
        </tbody>
      </table>
      <h3>Checks</h3>
      <table data-table="checks">
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Baseline
            </th>
            <th scope="col" class="num">
              Candidate
            </th>
            <th scope="col" class="num">
              Samples (baseline / candidate)
            </th>
            <th scope="col" class="num">
              p-value
            </th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {(r.checks ?? []).map((c) => (
            <tr key={c.name} data-check={c.name}>
              <th scope="row">{c.name}</th>
              <td data-field="status">{c.status}</td>
              <td class="num" data-field="baseline">
                {num(c.baseline)}
              </td>
              <td class="num" data-field="candidate">
                {num(c.candidate)}
              </td>
              <td class="num">
                {count(c.baselineSamples)} / {count(c.candidateSamples)}
              </td>
              <td class="num">{num(c.pValue)}</td>
              <td>{c.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {running && (
        <div class="actions">
          <ActionButton
            scope="registry:promote"
            label={`Promote now: the rollout of ${model}`}
            testId={`rollout-promote-${model}`}
            run={() => RegistryService.PromoteRollout({ modelName: model }, init())}
            onDone={onDone}
          >
            Promote now
          </ActionButton>
          <ActionButton
            scope="registry:promote"
            label={`Abort the rollout of ${model}`}
            testId={`rollout-abort-${model}`}
            run={() => RegistryService.AbortRollout({ modelName: model }, init())}
            onDone={onDone}
          >
            Abort
          </ActionButton>
        </div>
      )}
      <h3>History</h3>
      <ol data-list="history">
        {history.map((e) => (
          <li key={e.id}>
            {time(e.at)}: {(e.action ?? '').replace('rollout_', '')} (version {e.version}) by {e.actor}
            {typeof detailOf(e)['reason'] === 'string' ? ` — ${String(detailOf(e)['reason'])}` : ''}
          </li>
        ))}
      </ol>
    </section>
  );
}

function StartForm({ models, onDone }: { models: readonly RegisteredModel[]; onDone: () => void }) {
  const [model, setModel] = useState(models[0]?.name ?? '');
  const [version, setVersion] = useState('');
  const [strategy, setStrategy] = useState('canary');
  return (
    <section class="card" aria-labelledby="start-heading">
      <h2 id="start-heading">Start a rollout</h2>
      <div class="filters">
        <label class="field">
          <span>Model</span>
          <select value={model} onChange={(e) => setModel((e.target as HTMLSelectElement).value)}>
            {models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Candidate version</span>
          <input
            inputMode="numeric"
            value={version}
            onInput={(e) => setVersion((e.target as HTMLInputElement).value)}
            placeholder="e.g. 2"
          />
        </label>
        <label class="field">
          <span>Strategy</span>
          <select value={strategy} onChange={(e) => setStrategy((e.target as HTMLSelectElement).value)}>
            <option value="canary">canary (10, 25, 50, 100%)</option>
            <option value="shadow">shadow (copies, 100%)</option>
          </select>
        </label>
        <ActionButton
          scope="registry:promote"
          label="Start the rollout"
          testId="rollout-start"
          run={() => RegistryService.StartRollout({ modelName: model, version: Number(version), strategy }, init())}
          onDone={onDone}
        >
          Start
        </ActionButton>
      </div>
      {model !== '' && (
        <p class="muted">
          The candidate is compared with the Production version; see{' '}
          <a href={versionHref(model, 'production')}>{model}'s Production version</a>.
        </p>
      )}
    </section>
  );
}

/** The rollout entries of a model's newest rollout, oldest first, from its audit (newest first). */
function newestRolloutHistory(audit: readonly AuditEntry[]): AuditEntry[] {
  const start = audit.findIndex((e) => e.action === 'rollout_start');
  return audit
    .slice(0, start < 0 ? audit.length : start + 1)
    .filter((e) => (e.action ?? '').startsWith('rollout_'))
    .reverse();
}

export function RolloutsPage() {
  const loaded = useLoad(
    async () => {
      const [models, list] = await Promise.all([allModels(), RegistryService.ListRollouts({}, init())]);
      const rollouts = list.rollouts ?? [];
      // Each rollout's history: its model's newest audit entries, one page.
      const histories = await Promise.all(rollouts.map((r) => newestAudit(r.modelName ?? '', 1).then(newestRolloutHistory)));
      return { models, rollouts, histories };
    },
    'rollouts',
    REFRESH_MS,
  );
  const data = loaded.data;
  return (
    <>
      <h1 tabIndex={-1}>Rollouts</h1>
      <LoadState error={loaded.error} loading={data === undefined} />
      {data !== undefined && (
        <>
          {data.rollouts.length === 0 && <p>No rollout yet. Start one below, or with `quiver rollout start`.</p>}
          {data.rollouts.map((r, i) => (
            <RolloutCard key={r.id} r={r} history={data.histories[i] ?? []} onDone={loaded.reload} />
          ))}
          <StartForm models={data.models} onDone={loaded.reload} />
        </>
      )}
    </>
  );
}
