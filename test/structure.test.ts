/**
 * The layout rules between the three source trees: serving (src/, gateway/) does not depend on
 * training/ (training depends on serving's ONNX builder and errors, never the other way), the
 * three together have no import cycle, and the onnxruntime session options are written once.
 * And the structure: one handler set with an adapter file per service in each transport, the
 * registry's rules in one file, no hand-written serving file over 400 lines.
 * Read from the sources, so the rules hold without a build (`npm run cycles` checks the build).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every hand-written .ts file under `dir` (relative to the root), src/gen excluded. */
function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return path === join('src', 'gen') ? [] : sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

interface Import {
  /** The imported file relative to the root (a .js specifier read as its .ts source), or the bare specifier. */
  readonly target: string;
  /** Erased by the compiler: `import type`, `export type`, or only `type` names. */
  readonly typeOnly: boolean;
}

/** The static imports and re-exports of one file, and its dynamic import() calls. */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: Import[] = [];
  const add = (specifier: string, typeOnly: boolean): void => {
    const target = specifier.startsWith('.') ? relative(ROOT, resolve(ROOT, dirname(file), specifier)).replace(/\.js$/, '.ts') : specifier;
    found.push({ target, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const bindings = clause?.namedBindings;
      const onlyTypeNames =
        clause !== undefined &&
        clause.name === undefined &&
        bindings !== undefined &&
        ts.isNamedImports(bindings) &&
        bindings.elements.length > 0 &&
        bindings.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier.text, clause?.isTypeOnly === true || onlyTypeNames);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const inTraining = (target: string): boolean => target.startsWith('training/');

const SERVING = [...sources('src'), ...sources('gateway')];
const ALL = [...SERVING, ...sources('training')];

/**
 * The serving files that still import training/, each a command or a step that runs the
 * trainer itself rather than part of serving: `quiver train` and friends, the CLI's CSV
 * input, the demo model `npm start` trains on an empty data directory, and registering a
 * training run (a type only). Nothing else may; this list only shrinks.
 */
const TRAINING_CALLERS = ['src/cli/files.ts', 'src/cli/training-commands.ts', 'src/registry/register-training.ts', 'src/registry/seed.ts'];

test("src/ and gateway/ import nothing from training/ (the trainer's own callers aside)", (t) => {
  t.true(SERVING.length > 50, `found only ${SERVING.length} source files`);
  const importers = SERVING.filter((file) => importsOf(file).some((i) => inTraining(i.target))).sort();
  t.deepEqual(importers, TRAINING_CALLERS);
});

test('the drift monitor and the training profile bin with the one binIndex, in src/', (t) => {
  const from = (file: string): string[] => importsOf(file).map((i) => i.target);
  t.true(from('training/profile.ts').includes('src/monitoring/drift-statistics.ts'));
  t.true(from('src/monitoring/drift.ts').includes('src/monitoring/drift-statistics.ts'));
  const definitions = ALL.filter((file) => /\bfunction binIndex\b/.test(readFileSync(join(ROOT, file), 'utf8')));
  t.deepEqual(definitions, ['src/monitoring/drift-statistics.ts']);
});

test('src/, gateway/ and training/ together have no import cycle (imports the compiler keeps)', (t) => {
  const graph = new Map(
    ALL.map((file) => [
      file,
      importsOf(file)
        .filter((i) => !i.typeOnly && i.target.endsWith('.ts'))
        .map((i) => i.target),
    ]),
  );
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const walk = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) walk(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of ALL) walk(file, []);
  t.deepEqual(cycles, []);
});

test('the onnxruntime session options are written once, in src/onnx/session-options.ts', (t) => {
  const writers = ALL.filter((file) => readFileSync(join(ROOT, file), 'utf8').includes('graphOptimizationLevel'));
  t.deepEqual(writers, ['src/onnx/session-options.ts']);
  t.true(
    importsOf('src/onnx/server-session.ts').some((i) => i.target === 'src/onnx/session-options.ts' && !i.typeOnly),
    'src/onnx/server-session.ts does not take its session options from src/onnx/session-options.ts',
  );
  // Serving and the trial load open their sessions through one module, so they share the options.
  for (const file of ['src/core/worker.ts', 'src/core/inline-runner.ts', 'src/registry/trial-child.ts']) {
    t.true(
      importsOf(file).some((i) => i.target === 'src/onnx/server-session.ts' && !i.typeOnly),
      `${file} does not open its sessions through src/onnx/server-session.ts`,
    );
  }
});

/** Files a generator writes (they say so in their first lines): not held to the size rule. */
const generated = (file: string): boolean => /^(\/\*[^\n]*\*\/\n)?\/\/ Generated by /.test(readFileSync(join(ROOT, file), 'utf8'));

test('no hand-written file in src/ or gateway/ is over 400 lines', (t) => {
  const long = SERVING.filter((file) => !generated(file))
    .map((file) => ({ file, lines: readFileSync(join(ROOT, file), 'utf8').split('\n').length }))
    .filter((f) => f.lines > 400);
  t.deepEqual(long, []);
  t.true(SERVING.some(generated), 'the generated REST client is recognised as generated');
});

const SERVICES = ['prediction', 'registry', 'oip'];

test('one handler set, and one adapter file per service in each transport: src/handlers, src/grpc, gateway', (t) => {
  for (const service of SERVICES) {
    for (const dir of ['src/handlers', 'src/grpc', 'gateway']) t.true(SERVING.includes(join(dir, `${service}.ts`)), `${dir}/${service}.ts`);
    // Each adapter serves the service's handlers from src/handlers.
    t.true(
      importsOf(join('src/grpc', `${service}.ts`)).some((i) => i.target === join('src/handlers', `${service}.ts`)),
      `src/grpc/${service}.ts imports src/handlers/${service}.ts`,
    );
  }
});

test('the handlers use no transport: nothing under src/handlers imports grpc-js, fastify or the adapters', (t) => {
  const handlers = SERVING.filter((file) => file.startsWith('src/handlers/'));
  t.true(handlers.length >= SERVICES.length);
  for (const file of handlers) {
    const bad = importsOf(file).filter(
      (i) => i.target.startsWith('@grpc/') || i.target === 'fastify' || i.target.startsWith('src/grpc/') || i.target.startsWith('gateway/'),
    );
    t.deepEqual(bad, [], file);
  }
});

test('the in-process REST gateway calls the handlers: no grpc-js client or unix socket to its own server', (t) => {
  for (const file of ['src/serving/gateway.ts', 'gateway/direct-invoker.ts', 'src/server.ts']) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    t.notRegex(text, /RemoteInvoker|new grpc\.Client|makeGenericClientConstructor|unix:/, file);
  }
});

test("the registry's rules are written once: only sql-store.ts defines the store's operations", (t) => {
  const registry = SERVING.filter((file) => file.startsWith('src/registry/'));
  const defining = registry.filter((file) =>
    /^ {2}(async )?(transitionStage|setAlias)\([^;]*?\)(: [^;{]+)? \{/m.test(readFileSync(join(ROOT, file), 'utf8')),
  );
  // A method with a body (an interface's declaration has none): registry.ts validates and
  // delegates; sql-store.ts holds the rules.
  t.deepEqual(defining.sort(), ['src/registry/registry.ts', 'src/registry/sql-store.ts']);
});
