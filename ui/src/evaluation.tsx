/** A version's evaluation on labelled data: its figures and plots (the console's and the report's). */
import type { Evaluation } from '../../gateway/client/registry-messages.js';
import { CalibrationChart, ConfusionMatrix, ImportanceChart, PrChart, RocChart } from './charts.js';
import { count, num, time } from './format.js';

/** The metrics in the order people read them; others follow by name. */
const METRIC_ORDER = ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'log_loss'];

export function metricNames(maps: ReadonlyArray<Record<string, number> | undefined>): string[] {
  const names = new Set<string>();
  for (const m of maps) for (const k of Object.keys(m ?? {})) names.add(k);
  return [...names].sort((a, b) => {
    const ia = METRIC_ORDER.indexOf(a);
    const ib = METRIC_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
}

/** Metrics side by side: one column per labelled map. */
export function MetricsTable({
  columns,
  caption,
}: {
  columns: ReadonlyArray<{ label: string; metrics: Record<string, number> | undefined }>;
  caption: string;
}) {
  const names = metricNames(columns.map((c) => c.metrics));
  return (
    <table data-table="metrics">
      <caption class="muted">{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Metric</th>
          {columns.map((c) => (
            <th scope="col" class="num" key={c.label}>
              {c.label}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {names.map((name) => (
          <tr key={name} data-metric={name}>
            <th scope="row">{name}</th>
            {columns.map((c) => (
              <td class="num" key={c.label}>
                {num(c.metrics?.[name])}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function EvaluationPlots({ evaluation, label }: { evaluation: Evaluation; label: string }) {
  return (
    <div>
      <p class="muted">
        {label}: data set <code>{evaluation.datasetName}</code>, {count(evaluation.rows)} rows ({count(evaluation.positives)} positive),
        recorded by {evaluation.createdBy ?? '—'} at {time(evaluation.createdAt)}.
      </p>
      <MetricsTable caption={`Metrics on ${evaluation.datasetName ?? ''}`} columns={[{ label, metrics: evaluation.metrics }]} />
      <div class="grid">
        <RocChart series={[{ label, curve: evaluation.roc }]} />
        <PrChart series={[{ label, curve: evaluation.pr }]} />
        <ConfusionMatrix cells={evaluation.confusionMatrix ?? []} />
        <CalibrationChart bins={evaluation.calibration ?? []} />
        {(evaluation.featureImportance ?? []).length > 0 && <ImportanceChart importance={evaluation.featureImportance ?? []} />}
      </div>
    </div>
  );
}

/** Two evaluations compared: their metrics, and their ROC and PR curves overlaid. */
export function EvaluationComparison({
  a,
  b,
}: {
  a: { label: string; evaluation: Evaluation };
  b: { label: string; evaluation: Evaluation };
}) {
  return (
    <div>
      <MetricsTable
        caption={`${a.label} on ${a.evaluation.datasetName ?? ''} against ${b.label} on ${b.evaluation.datasetName ?? ''}`}
        columns={[
          { label: a.label, metrics: a.evaluation.metrics },
          { label: b.label, metrics: b.evaluation.metrics },
        ]}
      />
      <div class="grid">
        <RocChart
          series={[
            { label: a.label, curve: a.evaluation.roc },
            { label: b.label, curve: b.evaluation.roc },
          ]}
        />
        <PrChart
          series={[
            { label: a.label, curve: a.evaluation.pr },
            { label: b.label, curve: b.evaluation.pr },
          ]}
        />
      </div>
    </div>
  );
}
