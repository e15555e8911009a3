/**
 * Every plot of the console and of the standalone report, drawn by Chart.js (only the parts
 * registered below are bundled). Each chart is a figure with a caption, a text alternative,
 * and the plotted numbers as a table under "Data", for keyboards, screen readers and tests.
 */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  type ChartConfiguration,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

import type { CalibrationBin, Curve, FeatureImportance } from '../../gateway/client/registry-messages.js';
import { count, num } from './format.js';

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
);

/** Colour-blind-safe series colours (Okabe-Ito). */
const COLORS = ['#0072b2', '#d55e00', '#009e73', '#cc79a7', '#e69f00', '#56b4e9'];
const REFERENCE = '#9aa3b2';

function ChartCanvas({ config, label }: { config: ChartConfiguration; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const key = JSON.stringify(config.data);
  useEffect(() => {
    if (canvas.current === null) return undefined;
    const chart = new Chart(canvas.current, { ...config, options: { animation: false, maintainAspectRatio: false, ...config.options } });
    return () => chart.destroy();
  }, [key]);
  return (
    <div class="canvas-box">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}

/** A chart with its caption and its numbers as a table. */
function Figure(props: { title: string; label: string; config: ChartConfiguration; table: ComponentChildren; testId: string }) {
  return (
    <figure class="chart" data-chart={props.testId}>
      <figcaption>{props.title}</figcaption>
      <ChartCanvas config={props.config} label={props.label} />
      <details>
        <summary>Data: {props.title}</summary>
        {props.table}
      </details>
    </figure>
  );
}

export interface CurveSeries {
  readonly label: string;
  readonly curve: Curve | undefined;
}

const axis = (title: string) => ({ type: 'linear' as const, min: 0, max: 1, title: { display: true, text: title } });
const points = (c: Curve | undefined) => (c?.x ?? []).map((x, i) => ({ x, y: c?.y?.[i] ?? 0 }));

/** The reference line y = x (chance for ROC, perfect calibration). */
const diagonalLine = (label: string) => ({
  label,
  data: [
    { x: 0, y: 0 },
    { x: 1, y: 1 },
  ],
  showLine: true,
  borderColor: REFERENCE,
  backgroundColor: REFERENCE,
  pointRadius: 0,
  borderWidth: 1,
});

function curveChart(series: readonly CurveSeries[], xTitle: string, yTitle: string, diagonal: boolean): ChartConfiguration {
  const datasets = series.map((s, i) => ({
    label: s.label,
    data: points(s.curve),
    showLine: true,
    borderColor: COLORS[i % COLORS.length],
    backgroundColor: COLORS[i % COLORS.length],
    pointRadius: 0,
    borderWidth: 2,
  }));
  if (diagonal) datasets.push(diagonalLine('chance'));
  return { type: 'scatter', data: { datasets }, options: { scales: { x: axis(xTitle), y: axis(yTitle) } } };
}

function CurveTable({ series, x, y }: { series: readonly CurveSeries[]; x: string; y: string }) {
  return (
    <table>
      <thead>
        <tr>
          <th>Series</th>
          <th class="num">{x}</th>
          <th class="num">{y}</th>
          <th class="num">Threshold</th>
        </tr>
      </thead>
      <tbody>
        {series.flatMap((s) =>
          (s.curve?.x ?? []).map((xv, i) => (
            <tr key={`${s.label}-${i}`}>
              <td>{s.label}</td>
              <td class="num">{num(xv)}</td>
              <td class="num">{num(s.curve?.y?.[i])}</td>
              <td class="num">{num(s.curve?.thresholds?.[i])}</td>
            </tr>
          )),
        )}
      </tbody>
    </table>
  );
}

export function RocChart({ series }: { series: readonly CurveSeries[] }) {
  return (
    <Figure
      testId="roc"
      title="ROC curve"
      label={`ROC curve of ${series.map((s) => s.label).join(' and ')}: true positive rate against false positive rate`}
      config={curveChart(series, 'False positive rate', 'True positive rate', true)}
      table={<CurveTable series={series} x="False positive rate" y="True positive rate" />}
    />
  );
}

export function PrChart({ series }: { series: readonly CurveSeries[] }) {
  return (
    <Figure
      testId="pr"
      title="Precision-recall curve"
      label={`Precision-recall curve of ${series.map((s) => s.label).join(' and ')}`}
      config={curveChart(series, 'Recall', 'Precision', false)}
      table={<CurveTable series={series} x="Recall" y="Precision" />}
    />
  );
}

export function CalibrationChart({ bins }: { bins: readonly CalibrationBin[] }) {
  const config: ChartConfiguration = {
    type: 'scatter',
    data: {
      datasets: [
        {
          label: 'model',
          data: bins.map((b) => ({ x: b.meanPredicted ?? 0, y: b.fractionPositive ?? 0 })),
          showLine: true,
          borderColor: COLORS[0],
          backgroundColor: COLORS[0],
          pointRadius: 3,
        },
        diagonalLine('perfectly calibrated'),
      ],
    },
    options: { scales: { x: axis('Mean predicted probability'), y: axis('Fraction of positives') } },
  };
  return (
    <Figure
      testId="calibration"
      title="Calibration"
      label="Calibration: fraction of positives against the mean predicted probability, per bin"
      config={config}
      table={
        <table>
          <thead>
            <tr>
              <th class="num">Mean predicted</th>
              <th class="num">Fraction positive</th>
              <th class="num">Rows</th>
            </tr>
          </thead>
          <tbody>
            {bins.map((b, i) => (
              <tr key={i}>
                <td class="num">{num(b.meanPredicted)}</td>
                <td class="num">{num(b.fractionPositive)}</td>
                <td class="num">{count(b.count)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    />
  );
}

export function ImportanceChart({ importance }: { importance: readonly FeatureImportance[] }) {
  const config: ChartConfiguration = {
    type: 'bar',
    data: {
      labels: importance.map((f) => f.feature ?? ''),
      datasets: [{ label: 'drop in ROC AUC when shuffled', data: importance.map((f) => f.importance ?? 0), backgroundColor: COLORS[0] }],
    },
    options: { indexAxis: 'y', plugins: { legend: { display: false } } },
  };
  return (
    <Figure
      testId="importance"
      title="Feature importance (permutation)"
      label="Feature importance: the drop in ROC AUC when each feature is shuffled"
      config={config}
      table={
        <table>
          <thead>
            <tr>
              <th>Feature</th>
              <th class="num">Importance</th>
            </tr>
          </thead>
          <tbody>
            {importance.map((f) => (
              <tr key={f.feature}>
                <td>{f.feature}</td>
                <td class="num">{num(f.importance)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      }
    />
  );
}

export interface BarSeries {
  readonly label: string;
  readonly values: readonly number[];
}

/** Bars per bin for one or more series (a histogram drawn over its bins' labels): counts, or shares of a total. */
export function HistogramChart(props: {
  kind: 'count' | 'share';
  title: string;
  label: string;
  bins: readonly string[];
  series: readonly BarSeries[];
  testId: string;
  yTitle: string;
}) {
  const config: ChartConfiguration = {
    type: 'bar',
    data: {
      labels: [...props.bins],
      datasets: props.series.map((s, i) => ({ label: s.label, data: [...s.values], backgroundColor: COLORS[i % COLORS.length] })),
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: props.yTitle } } } },
  };
  return (
    <Figure
      testId={props.testId}
      title={props.title}
      label={props.label}
      config={config}
      table={
        <table>
          <thead>
            <tr>
              <th>Bin</th>
              {props.series.map((s) => (
                <th class="num" key={s.label}>
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.bins.map((b, i) => (
              <tr key={i}>
                <td>{b}</td>
                {props.series.map((s) => (
                  <td class="num" key={s.label}>
                    {props.kind === 'count' ? count(s.values[i]) : num(s.values[i])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      }
    />
  );
}

/** The confusion matrix at threshold 0.5 as a table: [tn, fp, fn, tp]. */
export function ConfusionMatrix({ cells }: { cells: readonly number[] }) {
  const [tn = 0, fp = 0, fn = 0, tp = 0] = cells;
  return (
    <figure class="chart" data-chart="confusion">
      <figcaption>Confusion matrix (threshold 0.5)</figcaption>
      <table class="confusion">
        <thead>
          <tr>
            <td />
            <th scope="col">Predicted 0</th>
            <th scope="col">Predicted 1</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th scope="row">Actual 0</th>
            <td class="hit" data-cell="tn">
              {count(tn)}
            </td>
            <td class="miss" data-cell="fp">
              {count(fp)}
            </td>
          </tr>
          <tr>
            <th scope="row">Actual 1</th>
            <td class="miss" data-cell="fn">
              {count(fn)}
            </td>
            <td class="hit" data-cell="tp">
              {count(tp)}
            </td>
          </tr>
        </tbody>
      </table>
    </figure>
  );
}
