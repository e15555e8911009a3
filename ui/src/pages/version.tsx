/**
 * A version's page: its evaluation plots (from the registry), and from this server's live
 * figures: drift per feature (training histogram against the live window, with PSI and KS),
 * the latency histogram and the batch sizes.
 */
import { useState } from 'preact/hooks';

import type { FeatureDrift, Histogram, VersionStats } from '../../../gateway/client/prediction-messages.js';
import { LoadState } from '../action.js';
import { PredictionService, RegistryService, init } from '../api.js';
import { HistogramChart } from '../charts.js';
import { EvaluationPlots } from '../evaluation.js';
import { count, num, stageName, time } from '../format.js';
import { useLoad } from '../load.js';
import { modelHref } from '../route.js';

const REFRESH_MS = 5000;

/** Bin labels of a histogram by its edges: "[a, b)". */
const edgeLabels = (edges: readonly number[]): string[] => edges.slice(1).map((hi, i) => `${num(edges[i], 2)} to ${num(hi, 2)}`);

/** Counts as shares of their sum (0 when empty). */
function shares(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total === 0 ? 0 : c / total));
}

function FeatureDriftChart({ f }: { f: FeatureDrift }) {
  const name = f.feature ?? '';
  return (
    <HistogramChart
      kind="share"
      testId={`drift-${name}`}
      title={`${name}: PSI ${num(f.psi)}, KS ${num(f.ks)}${f.drifted === true ? ' (drifted)' : ''}`}
      label={`Histogram of feature ${name}: share of training rows and of the live window per bin`}
      bins={edgeLabels(f.edges ?? [])}
      yTitle="Share of rows"
      series={[
        { label: 'training', values: shares(f.trainingCounts ?? []) },
        { label: 'live window', values: shares(f.liveCounts ?? []) },
      ]}
    />
  );
}

function boundLabels(h: Histogram | undefined, unit: string): string[] {
  const bounds = h?.upperBounds ?? [];
  return bounds.map((b, i) => (i === 0 ? `≤ ${b}${unit}` : `${bounds[i - 1]} to ${b}${unit}`));
}

function LiveSection({ stats }: { stats: VersionStats | undefined }) {
  if (stats === undefined)
    return (
      <p>
        This server does not serve this version now, so it has no live figures for it (it serves the model's default and rollout versions).
      </p>
    );
  const drift = stats.drift;
  return (
    <>
      <table data-table="live">
        <tbody>
          <tr>
            <th scope="row">Requests</th>
            <td class="num" data-field="requests">
              {count(stats.requests)}
            </td>
          </tr>
          <tr>
            <th scope="row">Errors</th>
            <td class="num" data-field="errors">
              {count(stats.errors)}
            </td>
          </tr>
          <tr>
            <th scope="row">Latency p50 / p95 / p99 (ms)</th>
            <td class="num" data-field="latency">
              {num(stats.latencyMs?.p50, 3)} / {num(stats.latencyMs?.p95, 3)} / {num(stats.latencyMs?.p99, 3)}
            </td>
          </tr>
          <tr>
            <th scope="row">Batches (rows)</th>
            <td class="num" data-field="batches">
              {count(stats.batches)} ({count(stats.batchRows)})
            </td>
          </tr>
          {stats.live !== undefined && (
            <tr>
              <th scope="row">Live {stats.live.metric}</th>
              <td class="num" data-field="live-quality">
                {num(stats.live.value)} over {count(stats.live.samples)} outcomes (95% CI {num(stats.live.ciLow)} to{' '}
                {num(stats.live.ciHigh)})
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <div class="grid">
        <HistogramChart
          kind="count"
          testId="latency"
          title="Latency of recent calls"
          label="Histogram of the server time of recent calls, in milliseconds"
          bins={boundLabels(stats.latencyHistogramMs, ' ms')}
          yTitle="Calls"
          series={[{ label: 'calls', values: stats.latencyHistogramMs?.counts ?? [] }]}
        />
        <HistogramChart
          kind="count"
          testId="batch-sizes"
          title="Batch sizes"
          label="Histogram of the rows per model run"
          bins={boundLabels(stats.batchSizeHistogram, ' rows')}
          yTitle="Runs"
          series={[{ label: 'runs', values: stats.batchSizeHistogram?.counts ?? [] }]}
        />
      </div>
      <h3>Drift</h3>
      <p data-field="drift-verdict">
        {drift?.evaluated === true
          ? `${drift.drifted === true ? 'Drifted' : 'No drift'} over the last ${count(drift.samples)} live rows.`
          : `Not evaluated yet: ${count(drift?.samples)} live rows in the window.`}
      </p>
      <table data-table="drift">
        <thead>
          <tr>
            <th scope="col">Feature</th>
            <th scope="col" class="num">
              PSI
            </th>
            <th scope="col" class="num">
              KS
            </th>
            <th scope="col">Drifted</th>
          </tr>
        </thead>
        <tbody>
          {(drift?.features ?? []).map((f) => (
            <tr key={f.feature} data-feature={f.feature}>
              <th scope="row">{f.feature}</th>
              <td class="num" data-field="psi">
                {num(f.psi)}
              </td>
              <td class="num" data-field="ks">
                {num(f.ks)}
              </td>
              <td>{f.drifted === true ? 'yes' : 'no'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="grid">
        {(drift?.features ?? []).map((f) => (
          <FeatureDriftChart key={f.feature} f={f} />
        ))}
      </div>
    </>
  );
}

export function VersionPage({ name, version }: { name: string; version: string }) {
  const registered = useLoad(async () => {
    const [v, evaluations] = await Promise.all([
      RegistryService.GetVersion({ modelName: name, version }, init()),
      RegistryService.ListEvaluations({ modelName: name, version }, init()),
    ]);
    return { version: v.version ?? {}, evaluations: evaluations.evaluations ?? [] };
  }, `${name}/${version}`);
  const live = useLoad(() => PredictionService.GetStats({ modelName: name }, init()), `${name}/${version}`, REFRESH_MS);
  const [chosen, setChosen] = useState(0);
  const v = registered.data?.version;
  const stats = live.data?.versions?.find((s) => s.modelVersion === String(v?.version ?? version));
  const evaluations = registered.data?.evaluations ?? [];
  const evaluation = evaluations[chosen] ?? evaluations[0];
  return (
    <>
      <h1 tabIndex={-1}>
        {name} version {v?.version ?? version}
      </h1>
      <p>
        <a href={modelHref(name)}>Back to model {name}</a>
      </p>
      <LoadState error={registered.error} loading={registered.data === undefined} />
      {v !== undefined && (
        <p class="muted" data-field="summary">
          Stage {stageName(v.stage)}; aliases {(v.aliases ?? []).join(', ') || 'none'}; created by {v.createdBy} at {time(v.createdAt)};
          algorithm {v.lineage?.algorithm || '—'}.
        </p>
      )}
      {registered.data !== undefined && (
        <section class="card" aria-labelledby="evaluation-heading">
          <h2 id="evaluation-heading">Evaluation</h2>
          {evaluations.length > 1 && (
            <label class="field">
              <span>Evaluation</span>
              <select value={String(chosen)} onChange={(e) => setChosen(Number((e.target as HTMLSelectElement).value))}>
                {evaluations.map((ev, i) => (
                  <option key={ev.id} value={String(i)}>
                    {ev.datasetName} at {time(ev.createdAt)}
                  </option>
                ))}
              </select>
            </label>
          )}
          {evaluation === undefined ? (
            <p>No evaluation recorded for this version: `quiver train` records its holdout's, `quiver evaluate` its test data's.</p>
          ) : (
            <EvaluationPlots evaluation={evaluation} label={`version ${v?.version ?? version}`} />
          )}
        </section>
      )}
      <section class="card" aria-labelledby="live-heading">
        <h2 id="live-heading">Live on this server</h2>
        <LoadState error={live.error} loading={live.data === undefined} />
        {live.data !== undefined && <LiveSection stats={stats} />}
      </section>
    </>
  );
}
