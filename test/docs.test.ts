/**
 * The documentation states what the product does: the README front page and docs/ link only to
 * files in the repository (or public web pages), name only real `quiver` commands, flags and npm
 * scripts, describe no future work as fact, and carry the options table the schema generates.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import test from 'ava';
import type { Command, Option } from 'commander';

import { program } from '../src/cli/main.js';
import { errorsTable, optionsTable } from '../src/config/docs.js';
import { OPTION_DEFS } from '../src/config/options.js';
import { CLI, ROOT, TSX } from './helpers/process.js';

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** Every page under docs/, relative to the repository root. */
function docsPages(dir = 'docs'): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? docsPages(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}

/** The pages whose commands must work: the front page and docs/. */
const COMMAND_PAGES = ['README.md', ...docsPages()];
/** The pages whose links and wording are checked: those, and the READMEs beside the code. */
const PAGES = [...COMMAND_PAGES, 'gateway/README.md', 'training/README.md', 'benchmarks/ghz/README.md'];

const readme = read('README.md');

/** The contents of the fenced code blocks of a markdown page. */
function fencedBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^ *(`{3,}|~{3,})[^\n]*\n([\s\S]*?)^ *\1 *$/gm)].map((m) => m[2]!);
}

/** The page without its fenced blocks and inline code: what a reader sees as prose and links. */
function prose(markdown: string): string {
  return markdown.replace(/^ *(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ *\1 *$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** The targets of the page's inline links and images. */
function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
}

/** GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of markdown.replace(/^ *(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ *\1 *$/gm, '').matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const slug = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}

/** A markdown table's cells, whatever padding prettier gave it. */
const cells = (table: string): string[][] =>
  table
    .trim()
    .split('\n')
    .map((line) => line.split(/(?<!\\)\|/).map((c) => c.trim().replace(/^-+$/, '---')));

test("docs/configuration.md's options table is the options schema's (run `npx quiver options` to refresh it)", (t) => {
  const page = read('docs/configuration.md');
  const start = page.indexOf('<!-- options-table:start -->');
  const end = page.indexOf('<!-- options-table:end -->');
  t.true(start >= 0 && end > start);
  t.deepEqual(cells(page.slice(start + '<!-- options-table:start -->'.length, end)), cells(optionsTable()));
});

test("docs/errors.md's error table is the error codes' (src/core/errors.ts)", (t) => {
  const page = read('docs/errors.md');
  const start = page.indexOf('<!-- errors-table:start -->');
  const end = page.indexOf('<!-- errors-table:end -->');
  t.true(start >= 0 && end > start);
  t.deepEqual(cells(page.slice(start + '<!-- errors-table:start -->'.length, end)), cells(errorsTable()));
});

test('no file of the product points at the design notes outside the repository', (t) => {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f !== '' && f !== 'test/docs.test.ts' && existsSync(join(ROOT, f)) && !/\.(png|onnx|lock)$/.test(f));
  const offenders = files.filter((f) => /\.\.\/shared\/|mlops-blueprint\.md|\b(ANCHORS|FACTS|STYLE|ARCHITECTURE)\.md\b/.test(read(f)));
  t.deepEqual(offenders, []);
});

test('`quiver options` prints the options table', (t) => {
  const out = execFileSync(process.execPath, ['--import', TSX, CLI, 'options'], { cwd: ROOT, encoding: 'utf8' });
  t.is(out.trim(), optionsTable());
});

test('the README quick start is npm ci, npm start, npm test, and .ci/run runs the same', (t) => {
  for (const cmd of ['npm ci', 'npm start', 'npm test']) t.true(readme.includes(cmd), cmd);
  const ci = read('.ci/run');
  t.regex(ci, /^npm ci /m);
  t.regex(ci, /^npm test /m);
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  t.is(pkg.scripts.start, 'exec node bin/quiver.js serve --demo');
  t.is(pkg.scripts.prepare, 'npm run build');
});

test('the README is a front page: under 250 lines, with the quick start, calling it, and where to read on', (t) => {
  t.true(readme.split('\n').length < 250, `README.md has ${readme.split('\n').length} lines`);
  for (const heading of ['## Quick start', '## Calling it', '## Read on']) t.true(readme.includes(`\n${heading}\n`), heading);
  t.true(linkTargets(readme).includes('docs/README.md'), 'the README links the docs index');
});

test('docs/README.md links every docs page, and links no page that is not there', (t) => {
  const index = read('docs/README.md');
  const linked = new Set(
    linkTargets(index)
      .filter((target) => !/^[a-z]+:/i.test(target))
      .map((target) => relative(ROOT, resolve(ROOT, 'docs', target.split('#')[0]!))),
  );
  for (const page of docsPages()) if (page !== join('docs', 'README.md')) t.true(linked.has(page), `docs/README.md does not link ${page}`);
  for (const page of linked)
    if (page.startsWith('docs/')) t.true(existsSync(join(ROOT, page)), `docs/README.md links ${page}, which is missing`);
});

test('every link resolves to a file in the repository or is a public web page', (t) => {
  for (const page of PAGES) {
    for (const target of linkTargets(read(page))) {
      if (/^https?:\/\//.test(target)) {
        t.false(/^https?:\/\/(localhost|127\.|0\.0\.0\.0|\[::1\])/.test(target), `${page}: ${target} is not a public page`);
        continue;
      }
      t.false(/^[a-z][a-z0-9+.-]*:/i.test(target), `${page}: ${target}: only relative links and http(s) pages`);
      t.false(target.startsWith('/'), `${page}: ${target} is an absolute path`);
      const [file, anchor] = target.split('#');
      const path = file === '' ? join(ROOT, page) : resolve(ROOT, dirname(page), decodeURIComponent(file!));
      const inside = relative(ROOT, path);
      t.false(inside.startsWith('..'), `${page}: ${target} points outside the repository`);
      t.true(existsSync(path), `${page}: ${target} does not exist`);
      if (anchor !== undefined && path.endsWith('.md') && existsSync(path)) {
        t.true(anchors(readFileSync(path, 'utf8')).has(anchor), `${page}: ${target}: no such heading`);
      }
    }
  }
});

test('no page names a path outside the repository', (t) => {
  for (const page of PAGES) {
    const text = read(page);
    t.notRegex(text, /\.\.\/shared\b/, `${page} names ../shared`);
    t.notRegex(text, /(^|[\s`'"(])(\/work\/|\/home\/|\/Users\/|~\/|file:\/\/)/m, `${page} names a local absolute path`);
    for (const m of text.matchAll(/(?:\.\.\/)+[\w.-]*/g)) {
      const inside = relative(ROOT, resolve(ROOT, dirname(page), m[0]));
      t.false(inside.startsWith('..'), `${page}: ${m[0]} leaves the repository`);
    }
  }
});

/** Top-level folders and files of the repository that pages name in inline code. */
const REPO_PATH =
  /^(src|test|training|gateway|proto|charts|deploy|benchmarks|scripts|bin|docs|\.ci)\/|^(Dockerfile|docker-compose\.yml|package\.json)$/;

test('every repository path a page names in inline code exists', (t) => {
  for (const page of PAGES) {
    for (const m of read(page).matchAll(/`([^`\s]+)`/g)) {
      const path = m[1]!.replace(/[.,:;]+$/, '');
      // Patterns and placeholders (`<name>`, `*`), and folders git ignores, name no single file.
      if (!REPO_PATH.test(path) || /[<>*{]/.test(path) || path.startsWith('benchmarks/results/raw')) continue;
      t.true(existsSync(join(ROOT, path)), `${page}: \`${path}\` does not exist`);
    }
  }
});

/** Phrases that describe future work as if it were a fact about the product. */
const FUTURE = [
  /\bcomes? next\b/i,
  /\bwill be (added|supported|implemented|available)\b/i,
  /\blater the registry\b/i,
  /\bnot yet\b/i,
  /\bcoming soon\b/i,
  /\bin a (future|later) (release|version|issue)\b/i,
  /\barrives? with\b/i,
  /\bplanned\b/i,
  /\bthe gateway will\b/i,
  /\bTODO\b/,
];

test('no page and no option doc describes future work as fact', (t) => {
  const texts: Array<[string, string]> = [
    ...PAGES.map((page): [string, string] => [page, read(page)]),
    ...OPTION_DEFS.map((def): [string, string] => [`option ${def.key}`, def.doc]),
  ];
  for (const [where, text] of texts) for (const phrase of FUTURE) t.notRegex(text, phrase, `${where}: ${phrase}`);
});

/** Shell words of one command line; quotes kept out, `#` comments dropped, operators as words of their own. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      word = (word ?? '') + line.slice(i + 1, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === '#' && word === undefined) {
      break;
    } else if ('|&;'.includes(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      const op = line[i + 1] === c ? c + c : c;
      words.push(op);
      i += op.length - 1;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The `quiver` invocations (their arguments) in a piece of shell: `npx quiver ...`, `quiver ...`, `node .../bin/quiver.js ...`. */
function quiverInvocations(shell: string): string[][] {
  const found: string[][] = [];
  const lines = shell.replace(/\\\n/g, ' ').split('\n');
  for (const line of lines) {
    const words = shellWords(line);
    const segments: string[][] = [[]];
    for (const w of words) {
      if (['|', '||', '&&', '&', ';', ';;'].includes(w)) segments.push([]);
      else segments.at(-1)!.push(w);
    }
    for (const segment of segments) {
      let i = 0;
      while (i < segment.length && /^[A-Z_][A-Z0-9_]*=/.test(segment[i]!)) i++;
      const [first, second] = [segment[i], segment[i + 1]];
      if (first === 'npx' && second === 'quiver') found.push(segment.slice(i + 2));
      else if (first === 'quiver') found.push(segment.slice(i + 1));
      else if (first === 'node' && second?.endsWith('bin/quiver.js')) found.push(segment.slice(i + 2));
      else if (first === 'docker' && segment.includes('node')) {
        const at = segment.indexOf('node');
        if (segment[at + 1]?.endsWith('bin/quiver.js')) found.push(segment.slice(at + 2));
      }
    }
  }
  return found;
}

/** Why these arguments are not a valid `quiver` command line, or undefined when they are. */
function checkInvocation(root: Command, args: string[]): string | undefined {
  let cmd = root;
  let i = 0;
  while (i < args.length && cmd.commands.length > 0) {
    const next = cmd.commands.find((c) => c.name() === args[i] || c.aliases().includes(args[i]!));
    if (next === undefined) break;
    cmd = next;
    i++;
  }
  const rest = args.slice(i);
  if (cmd.commands.length > 0 && !rest.some((a) => a === '--help' || a === '-h')) {
    return `'${[cmd.name(), rest[0] ?? ''].join(' ').trim()}' is not a command (${cmd.commands.map((c) => c.name()).join(', ')})`;
  }
  const options = cmd.options as readonly Option[];
  let positional = 0;
  for (let j = 0; j < rest.length; j++) {
    const arg = rest[j]!;
    if (arg === '--help' || arg === '-h') continue;
    if (arg.startsWith('-')) {
      const name = arg.split('=')[0]!;
      const option = options.find((o) => o.long === name || o.short === name);
      if (option === undefined) return `${cmd.name()} has no option ${name}`;
      if ((option.required || option.optional) && !arg.includes('=')) {
        if (option.required) j++;
        if (option.variadic) while (rest[j + 1] !== undefined && !rest[j + 1]!.startsWith('-')) j++;
      }
    } else {
      positional++;
    }
  }
  const accepted = cmd.registeredArguments.length;
  if (positional > accepted && !cmd.registeredArguments.some((a) => a.variadic)) {
    return `${cmd.name()} takes ${accepted} argument(s), got ${positional}: ${rest.join(' ')}`;
  }
  return undefined;
}

/** Shell in the pages: fenced blocks, and inline code that is a command. */
function shellOf(markdown: string): string[] {
  const inline = [...markdown.replace(/^ *(`{3,}|~{3,})[^\n]*\n[\s\S]*?^ *\1 *$/gm, '').matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return [...fencedBlocks(markdown), ...inline.filter((code) => /^(npx quiver|quiver|npm run) /.test(code))];
}

test('every quiver command line in the README and docs/ names a real command and real flags', (t) => {
  const root = program(() => undefined);
  let seen = 0;
  for (const page of COMMAND_PAGES) {
    for (const shell of shellOf(read(page))) {
      for (const args of quiverInvocations(shell)) {
        seen++;
        const problem = checkInvocation(root, args);
        t.is(problem, undefined, `${page}: quiver ${args.join(' ')}`);
      }
    }
  }
  t.true(seen > 10, `only ${seen} quiver command lines found`);
});

test('the command checker refuses what quiver would refuse', (t) => {
  const root = program(() => undefined);
  const check = (shell: string): Array<string | undefined> => quiverInvocations(shell).map((args) => checkInvocation(root, args));
  t.deepEqual(check('npx quiver registry list'), [undefined]);
  t.deepEqual(check('npx quiver serve --no-gateway --model a=a.onnx --model b=b.onnx # comment --bogus'), [undefined]);
  t.deepEqual(check('QUIVER_X=1 npx quiver evaluate --model-uri m:2 \\\n  --margin 0.01 && \\\nnpx quiver promote --version 2'), [
    undefined,
    undefined,
  ]);
  t.regex(check('npx quiver registry list versions')[0] ?? '', /argument/);
  t.regex(check('npx quiver registry lst')[0] ?? '', /is not a command/);
  t.regex(check('npx quiver serve --grpc-prot 1')[0] ?? '', /no option --grpc-prot/);
  t.regex(check("node bin/quiver.js train --data-path 'a b.csv' --algoritm mlp")[0] ?? '', /no option --algoritm/);
});

test('every npm script the README and docs/ name exists', (t) => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  for (const page of PAGES) {
    for (const m of read(page).matchAll(/\bnpm run ([\w:.-]+)/g)) t.true(m[1]! in scripts, `${page}: npm run ${m[1]!}`);
  }
});
