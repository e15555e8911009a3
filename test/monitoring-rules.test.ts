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
  ]);
  return [...new Set(words.filter((w) => !NOT_METRICS.has(w) && /^(ml_|quiver_|process_)/.test(w)))];
}

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
    for (const n of names) t.true(exported.has(n), `${r.alert} uses ${n}, which the server does not export`);
  }
  const byName = new Map(all.map((r) => [r.alert, r.expr]));
  t.regex(byName.get('QuiverHighPredictionLatency') ?? '', /histogram_quantile\(0\.95, .*ml_prediction_latency_seconds_bucket.*\) > 0\.1$/);
  t.regex(byName.get('QuiverLowModelAccuracy') ?? '', /^ml_model_accuracy < 0\.7$/);
  t.regex(byName.get('QuiverFeatureDrift') ?? '', /ml_drift_detected/);
  t.regex(byName.get('QuiverHighErrorRate') ?? '', /status="error".*> 0\.01$/s);
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
