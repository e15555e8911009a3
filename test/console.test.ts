/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The console at /ui/ in a real browser (Debian's chromium through puppeteer-core) against a
 * real server: a model with two trained versions (their holdout evaluations recorded by
 * training), live traffic (some of it drifted, some of it bad), a running canary rollout, and
 * API tokens. Every page is checked for what it shows against the API's own answers, for
 * console errors and failed requests, for keyboard access and with axe-core. Promotion is
 * refused without the scope and works with it, and the server follows.
 */
import { request as httpRequest } from 'node:http';

import * as grpc from '@grpc/grpc-js';
import test from 'ava';
import type { Browser, Page } from 'puppeteer-core';

import { resolveOptions } from '../src/config/options.js';
import type { GetStatsResponse, ListModelsResponse } from '../gateway/client/prediction-messages.js';
import type { AuditEntry, Evaluation, ModelVersion, Rollout } from '../gateway/client/registry-messages.js';
import { Registry, registryOptions } from '../src/registry/registry.js';
import { registerTraining } from '../src/registry/register-training.js';
import { generateDataset } from '../training/data/generate.js';
import { trainModel } from '../training/train.js';
import { count, num, pct } from '../ui/src/format.js';
import {
  launchBrowser,
  screenshot,
  seriousViolations,
  textOf,
  unreachableByKeyboard,
  type Watched,
  watchedPage,
} from './helpers/browser.js';
import { blueprintFeatures, tmp } from './helpers/fixtures.js';
import { type Running, startServer } from './helpers/server.js';
import { eventually } from './helpers/wait.js';

const MODEL = 'fraud';
const VIEWER = 'viewer-token-0123456789';
const RELEASER = 'releaser-token-0123456789';
const TOKENS = `viewer registry:read ${VIEWER}; releaser registry:read,registry:promote ${RELEASER}`;

/** A registry with two trained versions of MODEL (version 1 in Production), as `quiver train` leaves it. */
async function trainedRegistry(dataDir: string): Promise<void> {
  const registry = await Registry.open(registryOptions(resolveOptions({ flags: { dataDir } })));
  try {
    const runs = [
      { algorithm: 'logistic' as const, seed: 1 },
      { algorithm: 'gbdt' as const, seed: 2 },
    ];
    for (const r of runs) {
      const result = await trainModel({ dataset: generateDataset({ rows: 600, seed: r.seed }), algorithm: r.algorithm, seed: r.seed });
      await registerTraining(registry, MODEL, result, {
        experimentName: 'fraud-weekly',
        datasetName: `week-${r.seed}.csv`,
        description: '',
        actor: 'alice',
      });
    }
    await registry.transitionStage(MODEL, 1, 'Production', true, undefined, 'alice');
  } finally {
    await registry.close();
  }
}

/** A standard normal draw (Box-Muller). */
const normal = (): number => Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());

/** Traffic: `good` predictions (feature_0 shifted by `shift`) and `bad` ones (a feature missing). */
async function traffic(srv: Running, good: number, bad: number, shift = 0): Promise<void> {
  for (let i = 0; i < good; i++) {
    const x = Array.from({ length: 10 }, (_, j) => normal() + (j === 0 ? shift : 0));
    await srv.client.predict({ modelName: MODEL, features: blueprintFeatures(x) });
  }
  for (let i = 0; i < bad; i++) {
    await srv.client.predict({ modelName: MODEL, features: new Map([['feature_0', 1]]) }).catch((err: grpc.ServiceError) => {
      if (err.code !== grpc.status.INVALID_ARGUMENT) throw err;
    });
  }
}

interface Context {
  srv: Running;
  browser: Browser;
  /** The registry plane's REST base, where the console lives. */
  base: string;
}

/** GET on the REST gateway with a token, as JSON. */
async function api<T>(base: string, path: string, token = VIEWER): Promise<T> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function post<T>(base: string, path: string, body: unknown, token = RELEASER): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** One HTTP request with exactly these headers (a Host of the caller's choosing too): status, headers, body. */
function raw(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens a console page with the viewer's token typed into the header's form first. */
async function open(ctx: Context, hash: string, token = VIEWER): Promise<Watched> {
  const w = await watchedPage(ctx.browser);
  // The first load has no token: on a registry with tokens, its reads are refused (401), and the page says what to do.
  await w.page.goto(`${ctx.base}/ui/#/audit`, { waitUntil: 'networkidle0' });
  await w.page.waitForSelector('[role="alert"]');
  w.problems.length = 0;
  await typeToken(w.page, token);
  await w.page.evaluate((h) => (location.hash = h), hash);
  await w.page.waitForNetworkIdle();
  return w;
}

async function typeToken(page: Page, token: string): Promise<void> {
  await page.click('#token-input');
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('[data-token-state]')?.textContent === 'token set');
}

/** The cells of a table's rows as text, by a row selector. */
const cells = (page: Page, selector: string): Promise<string[][]> =>
  page.$$eval(selector, (rows) => rows.map((r) => [...r.querySelectorAll('th, td')].map((c) => (c.textContent ?? '').trim())));

let ctx: Context;

test.before(async () => {
  const dataDir = tmp('quiver-console-');
  await trainedRegistry(dataDir);
  const srv = await startServer({ dataDir, authTokens: TOKENS, defaultModel: MODEL });
  await traffic(srv, 60, 4);
  await traffic(srv, 150, 0, 3);
  const browser = await launchBrowser();
  ctx = { srv, browser, base: srv.registryHttp };
  // A canary of version 2 that stays at its first step (an hour a step), so its figures hold still.
  await post(ctx.base, `/v1/registry/models/${MODEL}/rollout:start`, {
    version: 2,
    strategy: 'canary',
    policy: { steps: [10, 50, 100], intervalSeconds: 3600 },
  });
  // Traffic the canary shares in, once this server serves version 2; then its checks have figures.
  await eventually(async () => (await api<GetStatsResponse>(ctx.base, '/v1/stats')).versions?.some((v) => v.modelVersion === '2') === true);
  await traffic(srv, 300, 0);
  await eventually(
    async () =>
      (await api<{ rollout: Rollout }>(ctx.base, `/v1/registry/models/${MODEL}/rollout`)).rollout.checks?.some(
        (c) => (c.candidateSamples ?? 0) > 0,
      ) === true,
    'the canary counted in its checks',
  );
});

test.after.always(async () => {
  await ctx?.browser.close();
  await ctx?.srv.close();
});

test.serial('the console is served with a CSP that admits no inline script, and httpPort sends browsers to it', async (t) => {
  const res = await fetch(`${ctx.base}/ui/`);
  t.is(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  t.regex(csp, /script-src 'self'(;|$)/);
  t.notRegex(csp, /unsafe-inline|unsafe-eval/);
  t.regex(await res.text(), /<script defer src="app.js"><\/script>/);
  const redirect = await fetch(`${ctx.srv.http}/ui/`, { redirect: 'manual' });
  t.is(redirect.status, 307);
  t.is(redirect.headers.get('location'), `${ctx.base}/ui/`);
  // A Host that is not a plain host name is not echoed: the redirect names the registry's own address.
  const port = new URL(ctx.base).port;
  const crafted = await raw(`${ctx.srv.http}/ui/`, { headers: { host: 'evil.example/x?' } });
  t.is(crafted.status, 307);
  t.is(crafted.headers.location, `http://127.0.0.1:${port}/ui/`);
  t.is((await raw(`${ctx.srv.http}/ui/`, { headers: { host: 'localhost:1' } })).headers.location, `http://localhost:${port}/ui/`);
});

test.serial('without a token the console says how to read a registry that has tokens', async (t) => {
  const w = await watchedPage(ctx.browser);
  await w.page.goto(`${ctx.base}/ui/`, { waitUntil: 'networkidle0' });
  t.regex(await textOf(w.page, '[role="alert"]'), /needs an API token.*type a registry token above/);
  t.is(await textOf(w.page, '[data-token-state]'), 'read-only');
  // The only problems are the refused reads themselves.
  t.true(w.problems.length > 0);
  t.true(
    w.problems.every((p) => /401/.test(p)),
    w.problems.join('\n'),
  );
  await w.page.close();
});

test.serial('Models: names, default version, aliases, requests, error rate and drift equal the API', async (t) => {
  const w = await open(ctx, '#/');
  const { page } = w;
  const stats = await api<GetStatsResponse>(ctx.base, '/v1/stats');
  const served = await api<ListModelsResponse>(ctx.base, '/v1/models');
  const mine = (stats.versions ?? []).filter((v) => v.modelName === MODEL);
  const requests = mine.reduce((a, v) => a + (v.requests ?? 0), 0);
  const errors = mine.reduce((a, v) => a + (v.errors ?? 0), 0);
  t.true(errors >= 4);
  const row = `[data-model="${MODEL}"]`;
  t.is(await textOf(page, `${row} th a`), MODEL);
  t.is(
    await textOf(page, `${row} [data-field="default-version"]`),
    served.models?.find((m) => m.name === MODEL)?.defaultVersion ?? '(none)',
  );
  t.is(await textOf(page, `${row} [data-field="requests"]`), count(requests));
  t.is(await textOf(page, `${row} [data-field="error-rate"]`), pct(errors / requests));
  t.true(mine.some((v) => v.drift?.drifted === true));
  t.is(await textOf(page, `${row} [data-field="drift"]`), 'drifted');
  t.regex(await textOf(page, `${row}`), /production → 1/);
  // Requests per second appear after two refreshes.
  await page.waitForFunction(
    (sel) => /^\d+\.\d$/.test(document.querySelector(sel)?.textContent ?? ''),
    { timeout: 30_000 },
    `${row} [data-field="rate"]`,
  );
  await screenshot(page, 'console-models');
  t.deepEqual(await seriousViolations(page), []);
  t.deepEqual(await unreachableByKeyboard(page), []);
  t.deepEqual(w.problems, []);
  await page.close();
});

test.serial('Model: versions, stages, who changed them, lineage, metrics, and two versions compared', async (t) => {
  const w = await open(ctx, `#/models/${MODEL}`);
  const { page } = w;
  const versions = (await api<{ versions: ModelVersion[] }>(ctx.base, `/v1/registry/models/${MODEL}/versions`)).versions;
  const audit = (await api<{ entries: AuditEntry[] }>(ctx.base, `/v1/registry/audit?modelName=${MODEL}`)).entries;
  await page.waitForSelector('[data-table="versions"]');
  for (const v of versions) {
    const row = `[data-table="versions"] tr[data-version="${v.version}"]`;
    t.is(await textOf(page, `${row} [data-field="stage"]`), v.stage === 'STAGE_PRODUCTION' ? 'Production' : 'None');
    const last = audit.filter((e) => e.version === v.version).at(-1)!;
    t.regex(await textOf(page, `${row} [data-field="last-change"]`), new RegExp(`^${last.action} by ${last.actor} at`));
    const lineage = await textOf(page, `[data-lineage="${v.version}"]`);
    t.true(lineage.includes(v.lineage!.datasetSha256!.slice(0, 12)));
    t.true(lineage.includes(`${count(v.lineage!.datasetRows)} rows`));
    t.true(lineage.includes(v.lineage!.algorithm!));
    t.true(lineage.includes(v.lineage!.runId!));
    t.true(lineage.includes(v.lineage!.codeVersion!));
    for (const [metric, value] of Object.entries(v.lineage!.metrics!)) {
      const shown = await cells(page, `section[aria-labelledby="metrics-heading"] tr[data-metric="${metric}"]`);
      t.true(shown[0]!.includes(num(value)), `${metric} of version ${v.version}`);
    }
  }
  t.regex(await textOf(page, '[data-table="versions"] tr[data-version="1"] [data-field="aliases"]'), /production/);
  // The comparison: version 1 against version 2, each version's newest evaluation.
  const evaluations = await Promise.all(
    [1, 2].map(
      async (v) =>
        (await api<{ evaluations: Evaluation[] }>(ctx.base, `/v1/registry/models/${MODEL}/versions/${v}/evaluations`)).evaluations[0]!,
    ),
  );
  await page.waitForSelector('#compare-heading ~ div [data-table="metrics"]');
  const compared = await cells(page, '#compare-heading ~ div [data-table="metrics"] tbody tr');
  for (const row of compared) {
    const metric = row[0]!;
    t.deepEqual(row.slice(1), [num(evaluations[0]!.metrics![metric]), num(evaluations[1]!.metrics![metric])], metric);
  }
  // Overlaid curves: both versions' ROC points in one chart.
  const rocRows = await page.$$eval('#compare-heading ~ div [data-chart="roc"] tbody tr', (r) => r.length);
  t.is(rocRows, evaluations[0]!.roc!.x!.length + evaluations[1]!.roc!.x!.length);
  await screenshot(page, 'console-model');
  t.deepEqual(await seriousViolations(page), []);
  t.deepEqual(await unreachableByKeyboard(page), []);
  t.deepEqual(w.problems, []);
  await page.close();
});

test.serial('Version: evaluation plots from the registry, drift per feature, latency and batch sizes equal the API', async (t) => {
  const w = await open(ctx, `#/models/${MODEL}/versions/1`);
  const { page } = w;
  const evaluation = (await api<{ evaluations: Evaluation[] }>(ctx.base, `/v1/registry/models/${MODEL}/versions/1/evaluations`))
    .evaluations[0]!;
  t.is(evaluation.datasetName, 'holdout');
  await page.waitForSelector('[data-chart="roc"]');
  for (const [metric, value] of Object.entries(evaluation.metrics!))
    t.deepEqual((await cells(page, `#evaluation-heading ~ div [data-metric="${metric}"]`))[0], [metric, num(value)]);
  const [tn, fp, fn, tp] = evaluation.confusionMatrix!;
  t.deepEqual(
    await Promise.all(['tn', 'fp', 'fn', 'tp'].map((c) => textOf(page, `[data-chart="confusion"] [data-cell="${c}"]`))),
    [tn, fp, fn, tp].map((n) => count(n)),
  );
  t.is(await page.$$eval('[data-chart="roc"] tbody tr', (r) => r.length), evaluation.roc!.x!.length);
  t.is(await page.$$eval('[data-chart="calibration"] tbody tr', (r) => r.length), evaluation.calibration!.length);
  t.deepEqual(
    await page.$$eval('[data-chart="importance"] tbody tr', (rows) => rows.map((r) => r.querySelector('td')?.textContent)),
    evaluation.featureImportance!.map((f) => f.feature),
  );
  // Live figures: nothing is sent meanwhile, so the page and the API agree exactly.
  const stats = (await api<GetStatsResponse>(ctx.base, `/v1/stats?modelName=${MODEL}`)).versions!.find((v) => v.modelVersion === '1')!;
  await page.waitForSelector('[data-table="drift"]');
  for (const f of stats.drift!.features!) {
    const row = (await cells(page, `[data-table="drift"] tr[data-feature="${f.feature}"]`))[0]!;
    t.deepEqual(row, [f.feature, num(f.psi), num(f.ks), f.drifted === true ? 'yes' : 'no']);
    const live = await page.$$eval(`[data-chart="drift-${f.feature}"] tbody tr`, (rows) =>
      rows.map((r) => r.querySelectorAll('td')[2]?.textContent),
    );
    const total = f.liveCounts!.reduce((a, b) => a + b, 0);
    t.deepEqual(
      live,
      f.liveCounts!.map((c) => num(c / total)),
      `live shares of ${f.feature}`,
    );
  }
  t.is(await textOf(page, '[data-field="drift-verdict"]'), `Drifted over the last ${count(stats.drift!.samples)} live rows.`);
  const latency = await page.$$eval('[data-chart="latency"] tbody tr', (rows) => rows.map((r) => r.querySelectorAll('td')[1]?.textContent));
  t.deepEqual(
    latency,
    stats.latencyHistogramMs!.counts!.map((c) => count(c)),
  );
  const batches = await page.$$eval('[data-chart="batch-sizes"] tbody tr', (rows) =>
    rows.map((r) => r.querySelectorAll('td')[1]?.textContent),
  );
  t.deepEqual(
    batches,
    stats.batchSizeHistogram!.counts!.map((c) => count(c)),
  );
  t.is(await textOf(page, '[data-table="live"] [data-field="requests"]'), count(stats.requests));
  await screenshot(page, 'console-version');
  t.deepEqual(await seriousViolations(page), []);
  t.deepEqual(await unreachableByKeyboard(page), []);
  t.deepEqual(w.problems, []);
  await page.close();
});

test.serial('Runs: every run of the experiment with its parameters and metrics, sortable, linked to its version', async (t) => {
  const w = await open(ctx, '#/runs?experiment=fraud-weekly');
  const { page } = w;
  const versions = (await api<{ versions: ModelVersion[] }>(ctx.base, `/v1/registry/models/${MODEL}/versions`)).versions;
  await page.waitForSelector('[data-table="runs"] tbody tr');
  t.is(await page.$$eval('[data-table="runs"] tbody tr', (r) => r.length), versions.length);
  for (const v of versions) {
    const row = `[data-table="runs"] tr[data-run="${v.lineage!.runId}"]`;
    t.is(await textOf(page, `${row} [data-metric="accuracy"]`), num(v.lineage!.metrics!['accuracy']));
    t.true((await textOf(page, row)).includes(`seed=${v.lineage!.params!['seed']}`));
    t.is(await page.$eval(`${row} a`, (a) => a.getAttribute('href')), `#/models/${MODEL}/versions/${v.version}`);
  }
  const byAccuracy = (descending: boolean): string[] =>
    [...versions]
      .sort((a, b) => (descending ? -1 : 1) * (a.lineage!.metrics!['accuracy']! - b.lineage!.metrics!['accuracy']!))
      .map((v) => v.lineage!.runId!);
  // Sorting by keyboard: focus the column's button and press Enter; again for the other order.
  await page.focus('button[data-sort="metric:accuracy"]');
  await page.keyboard.press('Enter');
  t.deepEqual(await page.$$eval('[data-table="runs"] tbody tr', (r) => r.map((x) => x.getAttribute('data-run'))), byAccuracy(true));
  await page.keyboard.press('Enter');
  t.deepEqual(await page.$$eval('[data-table="runs"] tbody tr', (r) => r.map((x) => x.getAttribute('data-run'))), byAccuracy(false));
  t.is(await page.$eval('button[data-sort="metric:accuracy"]', (b) => b.parentElement?.getAttribute('aria-sort')), 'ascending');
  await screenshot(page, 'console-runs');
  t.deepEqual(await seriousViolations(page), []);
  t.deepEqual(await unreachableByKeyboard(page), []);
  t.deepEqual(w.problems, []);
  await page.close();
});

test.serial('Audit log: every entry, filterable by action and version', async (t) => {
  const w = await open(ctx, '#/audit');
  const { page } = w;
  const entries = (await api<{ entries: AuditEntry[] }>(ctx.base, '/v1/registry/audit?pageSize=1000')).entries;
  await page.waitForSelector('[data-table="audit"] tbody tr');
  t.is(await textOf(page, '[data-field="shown"]'), `${entries.length} of ${entries.length} entries`);
  await page.select('select[data-filter="action"]', 'record_evaluation');
  const recorded = entries.filter((e) => e.action === 'record_evaluation');
  t.is(recorded.length, 2);
  t.is(await textOf(page, '[data-field="shown"]'), `${recorded.length} of ${entries.length} entries`);
  await page.type('input[data-filter="version"]', '2');
  t.is(await textOf(page, '[data-field="shown"]'), `1 of ${entries.length} entries`);
  t.deepEqual(
    await page.$$eval('[data-table="audit"] tbody tr', (r) => r.map((x) => x.getAttribute('data-audit'))),
    recorded.filter((e) => e.version === 2).map((e) => String(e.id)),
  );
  await screenshot(page, 'console-audit');
  t.deepEqual(await seriousViolations(page), []);
  t.deepEqual(await unreachableByKeyboard(page), []);
  t.deepEqual(w.problems, []);
  await page.close();
});

test.serial('Rollouts: the running canary, its steps, every check with its figures, and its weight equal GetRollout', async (t) => {
  const w = await open(ctx, '#/rollouts');
  const { page } = w;
  const { rollout } = await api<{ rollout: Rollout }>(ctx.base, `/v1/registry/models/${MODEL}/rollout`);
  // ListRollouts, which the page reads: each model's newest rollout, the same as GetRollout's.
  const listed = (await api<{ rollouts: Rollout[] }>(ctx.base, '/v1/registry/rollouts')).rollouts;
  t.deepEqual(
    listed.map((r) => [r.modelName, r.id, r.state, r.weight]),
    [[MODEL, rollout.id, rollout.state, rollout.weight]],
  );
  const card = `[data-rollout="${MODEL}"]`;
  await page.waitForSelector(`${card} [data-table="checks"] tbody tr`);
  t.is(await textOf(page, `${card} [data-field="state"]`), 'running');
  t.is(await textOf(page, `${card} [data-field="weight"]`), `${num(rollout.weight, 1)}%`);
  t.regex(await textOf(page, `${card} [data-field="steps"]`), /10%.*50%.*100%.*step 1 of 3, 3600 s each/);
  const checks = await cells(page, `${card} [data-table="checks"] tbody tr`);
  t.deepEqual(
    checks.map((c) => c.slice(0, 5)),
    rollout.checks!.map((c) => [
      c.name,
      c.status,
      num(c.baseline),
      num(c.candidate),
      `${count(c.baselineSamples)} / ${count(c.candidateSamples)}`,
    ]),
  );
  t.true(rollout.checks!.some((c) => (c.candidateSamples ?? 0) > 0));
  t.regex(await textOf(page, `${card} [data-list="history"]`), /start \(version 2\) by releaser/);
  await screenshot(page, 'console-rollouts');
  t.deepEqual(await seriousViolations(page), []);
  t.deepEqual(await unreachableByKeyboard(page), []);
  t.deepEqual(w.problems, []);
  await page.close();
});

test.serial('Rollouts: a promote token aborts the running canary from the console', async (t) => {
  const w = await open(ctx, '#/rollouts', RELEASER);
  const { page } = w;
  const card = `[data-rollout="${MODEL}"]`;
  await page.waitForSelector(`${card} button[data-action="rollout-abort-${MODEL}"]`);
  await page.click(`${card} button[data-action="rollout-abort-${MODEL}"]`);
  await page.waitForFunction(
    (sel) => document.querySelector(sel)?.textContent?.startsWith('aborted') === true,
    {},
    `${card} [data-field="state"]`,
  );
  const { rollout } = await api<{ rollout: Rollout }>(ctx.base, `/v1/registry/models/${MODEL}/rollout`);
  t.is(rollout.state, 'aborted');
  t.is(rollout.weight ?? 0, 0);
  t.regex(await textOf(page, `${card} [data-list="history"]`), /abort \(version 2\) by releaser/);
  t.deepEqual(w.problems, []);
  await page.close();
});

test.serial(
  'Promote: refused with a read-only token, done with the promote scope (by keyboard); the registry changes and the server follows',
  async (t) => {
    const w = await open(ctx, `#/models/${MODEL}`);
    const { page } = w;
    const promote = 'button[data-action="promote-2"]';
    await page.waitForSelector(promote);
    // The viewer's token reads, but cannot promote: the server refuses, the page says why.
    await page.click(promote);
    t.regex(
      await textOf(page, '[data-action-result="promote-2"]'),
      /^Refused: .*needs the registry:promote scope, which token 'viewer' does not have/,
    );
    // Its only trace in the browser is that refused request (its console line may come a moment later).
    await eventually(() => w.problems.length >= 2, 'the refused request in the browser');
    t.is(w.problems.length, 2, w.problems.join('\n'));
    t.true(
      w.problems.every(
        (p) => /403/.test(p) && (p.startsWith('console:') || p.endsWith(`/v1/registry/models/${MODEL}/versions/2:transition`)),
      ),
      w.problems.join('\n'),
    );
    w.problems.length = 0;
    t.is((await api<{ version: ModelVersion }>(ctx.base, `/v1/registry/models/${MODEL}/versions/production`)).version.version, 1);
    // The releaser's token, typed in the header; Promote reached and pressed from the keyboard.
    await typeToken(page, RELEASER);
    await page.waitForSelector(promote);
    await page.focus(promote);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() =>
      /Production/.test(document.querySelector('tr[data-version="2"] [data-field="stage"]')?.textContent ?? ''),
    );
    t.is((await api<{ version: ModelVersion }>(ctx.base, `/v1/registry/models/${MODEL}/versions/production`)).version.version, 2);
    t.is(await textOf(page, 'tr[data-version="1"] [data-field="stage"]'), 'Archived');
    t.regex(await textOf(page, 'tr[data-version="2"] [data-field="last-change"]'), /^transition_stage by releaser at/);
    // The server follows: the default version it serves becomes 2.
    await eventually(
      async () => (await api<ListModelsResponse>(ctx.base, '/v1/models')).models?.find((m) => m.name === MODEL)?.defaultVersion === '2',
      'the server serving version 2',
    );
    t.is(
      (await ctx.srv.client.predict({ modelName: MODEL, features: blueprintFeatures(Array.from({ length: 10 }, normal)) })).modelVersion,
      '2',
    );
    t.deepEqual(w.problems, []);
    await page.close();
  },
);

test.serial('Aliases and stages: set and remove an alias, move a version to a stage, each as the registry then says', async (t) => {
  const w = await open(ctx, `#/models/${MODEL}`, RELEASER);
  const { page } = w;
  await page.waitForSelector('button[data-action="alias-1"]');
  await page.type('tr[data-version="1"] input', 'champion');
  await page.click('button[data-action="alias-1"]');
  await page.waitForSelector('button[data-action="unalias-champion"]');
  const model = async (): Promise<{ aliases: Record<string, number> }> =>
    (await api<{ model: { aliases: Record<string, number> } }>(ctx.base, `/v1/registry/models/${MODEL}`)).model;
  t.is((await model()).aliases['champion'], 1);
  await page.click('button[data-action="unalias-champion"]');
  await page.waitForFunction(() => document.querySelector('button[data-action="unalias-champion"]') === null);
  t.is((await model()).aliases['champion'], undefined);
  await page.select('tr[data-version="1"] select', 'STAGE_STAGING');
  await page.click('button[data-action="transition-1"]');
  await page.waitForFunction(() => document.querySelector('tr[data-version="1"] [data-field="stage"]')?.textContent === 'Staging');
  t.is((await api<{ version: ModelVersion }>(ctx.base, `/v1/registry/models/${MODEL}/versions/1`)).version.stage, 'STAGE_STAGING');
  t.deepEqual(w.problems, []);
  await page.close();
});

test('on a registry without tokens the console is read-only until a token is typed, and other sites cannot use the browser against the registry', async (t) => {
  const dataDir = tmp('quiver-console-open-');
  await trainedRegistry(dataDir);
  const srv = await startServer({ dataDir, defaultModel: MODEL });
  const browser = await launchBrowser();
  try {
    const w = await watchedPage(browser);
    const { page } = w;
    await page.goto(`${srv.registryHttp}/ui/#/models/${MODEL}`, { waitUntil: 'networkidle0' });
    const promote = 'button[data-action="promote-2"]';
    await page.waitForSelector(promote);
    const sent = w.requests.length;
    await page.click(promote);
    t.regex(
      await textOf(page, '[data-action-result="promote-2"]'),
      /^Refused: the console is read-only\. Type a registry token with the registry:promote scope above\./,
    );
    t.is(w.requests.length, sent, 'a refused action sends nothing');
    t.is((await api<{ version: ModelVersion }>(srv.registryHttp, `/v1/registry/models/${MODEL}/versions/production`)).version.version, 1);

    // Another site's page in the same browser (here the inference port's origin: same host, another port)
    // posts to the registry with no-cors, as a form would: the server refuses it, nothing changes.
    const other = await browser.newPage();
    await other.goto(`${srv.http}/health`);
    const transition = `${srv.registryHttp}/v1/registry/models/${MODEL}/versions/2:transition`;
    const statuses: number[] = [];
    other.on('response', (r) => {
      if (r.url() === transition) statuses.push(r.status());
    });
    await other.evaluate(
      (url) =>
        fetch(url, { method: 'POST', mode: 'no-cors', body: '{"stage":"STAGE_PRODUCTION","archive_existing":true}' }).then(() => undefined),
      transition,
    );
    await eventually(() => statuses.length > 0, 'the cross-site request answered');
    t.deepEqual(statuses, [403]);
    await other.close();
    t.is((await api<{ version: ModelVersion }>(srv.registryHttp, `/v1/registry/models/${MODEL}/versions/production`)).version.version, 1);
    // The same checks without a browser: an Origin of another site, and a DNS name rebound to this host.
    const models = `${srv.registryHttp}/v1/registry/models`;
    const evil = await raw(transition, {
      method: 'POST',
      headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
      body: '{"stage":"STAGE_PRODUCTION"}',
    });
    t.is(evil.status, 403);
    t.regex(evil.body, /another origin's page \(Origin http:\/\/evil\.example\)/);
    const rebound = await raw(models, { headers: { host: `rebound.example:${new URL(srv.registryHttp).port}` } });
    t.is(rebound.status, 403);
    t.regex(rebound.body, /only requests addressed to a loopback host, not 'rebound\.example'/);
    // Clients that are not browsers are unaffected: loopback names and addresses.
    t.is((await raw(models, { headers: { host: `localhost:${new URL(srv.registryHttp).port}` } })).status, 200);
    t.is((await raw(models)).status, 200);
    t.is((await api<{ version: ModelVersion }>(srv.registryHttp, `/v1/registry/models/${MODEL}/versions/production`)).version.version, 1);

    await typeToken(page, 'a-local-operator-token');
    await page.waitForSelector(promote);
    await page.click(promote);
    await page.waitForFunction(() =>
      /Production/.test(document.querySelector('tr[data-version="2"] [data-field="stage"]')?.textContent ?? ''),
    );
    await eventually(
      async () =>
        (await api<ListModelsResponse>(srv.registryHttp, '/v1/models')).models?.find((m) => m.name === MODEL)?.defaultVersion === '2',
      'the server serving version 2',
    );
    t.deepEqual(w.problems, []);
  } finally {
    await browser.close();
    await srv.close();
  }
});
