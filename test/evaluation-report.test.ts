/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * `quiver evaluate` as a user runs it: it records each version's evaluation (curves included)
 * in the registry, and `--html` writes one self-contained file with the plots, which a real
 * browser opens from disk with no request beyond the file and shows the recorded numbers.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { resolveOptions } from '../src/config/options.js';
import { Registry, registryOptions } from '../src/registry/registry.js';
import { count, num } from '../ui/src/format.js';
import { launchBrowser, screenshot, seriousViolations, textOf, watchedPage } from './helpers/browser.js';
import { tmp } from './helpers/fixtures.js';
import { CLI, TSX } from './helpers/process.js';

const run = promisify(execFile);

async function quiver(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', TSX, CLI, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('quiver evaluate records both versions evaluations and --html writes a self-contained report of them', async (t) => {
  // Relative paths from the user's own folder, as the README's flows are typed.
  const dir = tmp('quiver-evaluate-html-');
  const ok = async (args: string[]): Promise<string> => {
    const r = await quiver(args, dir);
    t.is(r.code, 0, r.stderr);
    return r.stdout;
  };
  await ok(['data', 'generate', '--output', 'train.csv', '--rows', '600', '--seed', '1']);
  await ok(['data', 'generate', '--output', 'test.csv', '--rows', '300', '--seed', '2']);
  await ok(['train', '--data-path', 'train.csv', '--model-name', 'churn', '--data-dir', 'data', '--no-progress']);
  await ok(['promote', '--model-name', 'churn', '--version', '1', '--stage', 'Production', '--data-dir', 'data']);
  await ok(['train', '--data-path', 'train.csv', '--algorithm', 'gbdt', '--model-name', 'churn', '--data-dir', 'data', '--no-progress']);

  // Neither output: told what to give, nothing recorded.
  const neither = await quiver(['evaluate', '--model-uri', 'churn:2', '--test-data', 'test.csv', '--data-dir', 'data'], dir);
  t.is(neither.code, 2);
  t.regex(neither.stderr, /give --output-report FILE \(the JSON report\) or --html FILE \(the plots\), or both/);

  const evaluated = await quiver(
    ['evaluate', '--model-uri', 'churn:2', '--test-data', 'test.csv', '--html', 'out/report.html', '--data-dir', 'data'],
    dir,
  );
  t.true(evaluated.code === 0 || evaluated.code === 1, evaluated.stderr);
  t.is((JSON.parse(evaluated.stdout) as { html: string }).html, 'out/report.html');

  // --no-record writes its report and records nothing.
  const unrecorded = await quiver(
    [
      'evaluate',
      '--model-uri',
      'churn:2',
      '--test-data',
      'test.csv',
      '--output-report',
      'unrecorded.json',
      '--no-record',
      '--data-dir',
      'data',
    ],
    dir,
  );
  t.true(unrecorded.code === 0 || unrecorded.code === 1, unrecorded.stderr);

  // Recorded with each version: the holdout's at training, then test.csv's (once each).
  const registry = await Registry.open(registryOptions(resolveOptions({ flags: { dataDir: join(dir, 'data') } })));
  const [v2, v1] = await Promise.all([registry.evaluations('churn', '2'), registry.evaluations('churn', '1')]).finally(() =>
    registry.close(),
  );
  t.deepEqual(
    v2!.map((e) => e.datasetName),
    ['test.csv', 'holdout'],
  );
  t.deepEqual(
    v1!.map((e) => e.datasetName),
    ['test.csv', 'holdout'],
  );
  const candidate = v2![0]!;
  t.is(candidate.rows, 300);
  t.is(candidate.createdBy.length > 0, true);
  t.is(
    candidate.confusionMatrix.reduce((a, b) => a + b, 0),
    300,
  );
  t.is(candidate.roc?.x.at(-1), 1);

  // Self-contained: no script, style or image from anywhere else.
  const html = readFileSync(join(dir, 'out', 'report.html'), 'utf8');
  t.false(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src=/.test(html), 'the report loads nothing by reference');
  const browser = await launchBrowser();
  try {
    const w = await watchedPage(browser);
    const { page } = w;
    await page.goto(`file://${join(dir, 'out', 'report.html')}`, { waitUntil: 'load' });
    await page.waitForSelector('[data-chart="roc"] canvas');
    t.deepEqual(w.requests, [`GET file://${join(dir, 'out', 'report.html')}`]);
    t.regex(await textOf(page, 'h1'), /^Evaluation of churn version 2$/);
    t.regex(await textOf(page, '[role="status"]'), /^Version 2 (beats|does not beat) Production \(version 1\) on accuracy/);
    // The candidate's own section: its metrics and confusion matrix as recorded.
    for (const [metric, value] of candidate.metrics)
      t.deepEqual(
        await page.$$eval(`section:last-of-type [data-metric="${metric}"] td`, (c) => c.map((x) => x.textContent)),
        [num(value)],
        metric,
      );
    t.deepEqual(
      await page.$$eval('section:last-of-type [data-chart="confusion"] td[data-cell]', (c) => c.map((x) => x.textContent)),
      candidate.confusionMatrix.map((n) => count(n)),
    );
    // Both versions' curves overlaid in the comparison.
    t.is(
      await page.$$eval('section:first-of-type [data-chart="roc"] tbody tr', (r) => r.length),
      candidate.roc!.x.length + v1![0]!.roc!.x.length,
    );
    await screenshot(page, 'evaluation-report');
    t.deepEqual(await seriousViolations(page), []);
    t.deepEqual(w.problems, []);
  } finally {
    await browser.close();
  }
});
