import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import test from 'ava';

import { optionsTable } from '../src/config/docs.js';
import { ROOT } from './helpers/process.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** A markdown table's cells, whatever padding prettier gave it. */
const cells = (table: string): string[][] =>
  table
    .trim()
    .split('\n')
    .map((line) => line.split(/(?<!\\)\|/).map((c) => c.trim().replace(/^-+$/, '---')));

test("the README's configuration table is the options schema's (run `npx quiver options` to refresh it)", (t) => {
  const start = readme.indexOf('<!-- options-table:start -->');
  const end = readme.indexOf('<!-- options-table:end -->');
  t.true(start >= 0 && end > start);
  t.deepEqual(cells(readme.slice(start + '<!-- options-table:start -->'.length, end)), cells(optionsTable()));
});

test('the README quick start is npm ci, npm start, npm test, and .ci/run runs the same', (t) => {
  for (const cmd of ['npm ci', 'npm start', 'npm test']) t.true(readme.includes(cmd), cmd);
  const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
  t.regex(ci, /^npm ci /m);
  t.regex(ci, /^npm test /m);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.is(pkg.scripts.start, 'node bin/quiver.js serve --demo');
  t.is(pkg.scripts.prepare, 'npm run build');
});
