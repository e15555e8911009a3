import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';
import { parse } from 'yaml';

import { BLUEPRINT_ROW, blueprintFeatures, demoModel, tmp, writeModel } from './helpers/fixtures.js';
import { ROOT } from './helpers/process.js';
import { grpcError, startServer } from './helpers/server.js';

const DIR = join(ROOT, 'charts', 'quiver', 'monitoring');

/** Metric names a PromQL expression uses: identifiers followed by `{`, `[`, `)` or an operator, minus functions and keywords. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  const words = [...withoutStrings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b/g)].map((m) => m[1] as string);
  const NOT_METRICS = new Set([
    'sum',
    'by',
    'rate',
    'histogram_quantile',
    'max',
    'avg_over_time',
    'increase',
    'le',
    'model',
    'version',
    'feature',
    'status',
    'reason',
    'result',
    'lane',
    'instance',
    'm',
    'h',
    'without',
    'on',
    'pod',
    'job',
    'min',
    'avg',
    'clamp_min',
    'avg_over_time',
  ]);
  return [...new Set(words.filter((w) => !NOT_METRICS.has(w) && (/^(ml_|quiver_|process_)/.test(w) || w === 'up')))];
}

/** Series Prometheus makes for every target it scrapes, not the server. */
const SCRAPE_SERIES = new Set(['up']);

async function exportedNames(): Promise<Set<string>> {
  // A server that has served (and failed) some traffic, so every family has series.
  const srv = await startServer({ models: [`production-model=${writeModel(tmp(), 'demo.onnx', demoModel())}`] });
  try {
    await srv.client.predict({ features: blueprintFeatures(BLUEPRINT_ROW) });
    await grpcError(srv.client.predict({ features: new Map([['feature_0', 1]]) }));
    const text = await (await fetch(`${srv.metrics}/metrics`)).text();
    // Families are declared with # TYPE even before they have series (drift without a profile).
    return new Set(
      [...text.matchAll(/^# TYPE (\S+) (\w+)/gm)].flatMap((m) =>
        m[2] === 'histogram' ? [`${m[1]}_bucket`, `${m[1]}_count`, `${m[1]}_sum`] : [m[1] as string],
      ),
    );
  } finally {
    await srv.close();
  }
}

test('every alert rule is well formed and uses only metrics the server exports, and the blueprint alerts are there', async (t) => {
  const rules = parse(readFileSync(join(DIR, 'quiver-alerts.rules.yml'), 'utf8')) as {
    groups: Array<{ name: string; rules: Array<{ alert: string; expr: string; labels: { severity: string } }> }>;
  };
  const exported = await exportedNames();
  const all = rules.groups.flatMap((g) => g.rules);
  for (const r of all) {
    t.regex(r.alert, /^Quiver[A-Za-z]+$/);
    t.truthy(r.labels.severity, r.alert);
    const names = metricNames(r.expr);
    t.true(names.length > 0, r.alert);
    for (const n of names) t.true(exported.has(n) || SCRAPE_SERIES.has(n), `${r.alert} uses ${n}, which the server does not export`);
    // Once per deployment, not once per replica: aggregated over the pods (but QuiverDown,
    // which is about one target).
    if (r.alert !== 'QuiverDown') t.regex(r.expr, /^(histogram_quantile\(0\.\d+, )?(sum|min|max|avg) (by|without) \(/, r.alert);
    t.notRegex(r.expr, /by \([^)]*\b(instance|pod)\b/, `${r.alert} keeps instance or pod`);
  }
  const byName = new Map(all.map((r) => [r.alert, r.expr]));
  t.regex(byName.get('QuiverHighPredictionLatency') ?? '', /histogram_quantile\(0\.95, .*ml_prediction_latency_seconds_bucket.*\) > 0\.1$/);
  // The live figure once it is sufficient, the registered one until then.
  t.regex(
    byName.get('QuiverLowModelAccuracy') ?? '',
    /^min by \(model, version\) \(ml_model_live_accuracy and on \(model, version\) ml_model_live_sufficient == 1\) < 0\.7\sor min by \(model, version\) \(ml_model_accuracy unless on \(model, version\) ml_model_live_sufficient == 1\) < 0\.7$/,
  );
  t.regex(byName.get('QuiverFeatureDrift') ?? '', /ml_drift_detected/);
  t.regex(byName.get('QuiverHighErrorRate') ?? '', /status="error".*> 0\.01$/s);
  // A target Prometheus cannot scrape: the job of deploy/prometheus/prometheus.yml and of the
  // chart's ServiceMonitor (jobLabel app.kubernetes.io/part-of, which is quiver).
  t.is(byName.get('QuiverDown'), 'up{job="quiver"} == 0');
  const prometheus = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
    scrape_configs: { job_name: string }[];
  };
  t.true(prometheus.scrape_configs.some((j) => j.job_name === 'quiver'));
  const serviceMonitor = readFileSync(join(ROOT, 'charts', 'quiver', 'templates', 'servicemonitor.yaml'), 'utf8');
  t.regex(serviceMonitor, /^ {2}jobLabel: app\.kubernetes\.io\/part-of$/m);
  t.regex(readFileSync(join(ROOT, 'charts', 'quiver', 'templates', '_helpers.tpl'), 'utf8'), /^app\.kubernetes\.io\/part-of: quiver$/m);
});

test('the prometheus-adapter rules for the HPA query metrics the server exports, per namespace and pod', async (t) => {
  const adapter = parse(readFileSync(join(DIR, 'prometheus-adapter-rules.yaml'), 'utf8')) as {
    rules: {
      custom: Array<{
        seriesQuery: string;
        resources: { overrides: Record<string, { resource: string }> };
        name: { as: string };
        metricsQuery: string;
      }>;
    };
  };
  const exported = await exportedNames();
  const rules = adapter.rules.custom;
  t.deepEqual(
    rules.map((r) => r.name.as),
    ['quiver_queue_wait_seconds_mean', 'quiver_pool_utilization'],
  );
  for (const r of rules) {
    t.deepEqual(r.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
    t.regex(r.metricsQuery, /<<\.LabelMatchers>>/);
    t.regex(r.metricsQuery, /by \(<<\.GroupBy>>\)/);
    const names = [...metricNames(r.seriesQuery), ...metricNames(r.metricsQuery.replace(/<<[^>]*>>/g, ''))];
    t.true(names.length > 0, r.name.as);
    for (const n of names) t.true(exported.has(n), `${r.name.as} uses ${n}, which the server does not export`);
  }
});

test('the Grafana dashboard is valid JSON whose panels query metrics the server exports', async (t) => {
  const dashboard = JSON.parse(readFileSync(join(DIR, 'quiver-dashboard.json'), 'utf8')) as {
    title: string;
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  const exported = await exportedNames();
  t.is(dashboard.title, 'Quiver');
  t.true(dashboard.panels.length >= 10);
  for (const p of dashboard.panels) {
    for (const target of p.targets) for (const n of metricNames(target.expr)) t.true(exported.has(n), `panel "${p.title}" uses ${n}`);
  }
});
