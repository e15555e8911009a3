#!/usr/bin/env node
// `npm test`: the static checks, then the ava suite. Each check counts as one test, and the
// last line is always the plain summary `N passed, N failed` that CI counts (ava prints none).
import { spawn } from 'node:child_process';

const checks = [
  ['lint (eslint)', 'npx', ['eslint', '.']],
  ['format (prettier --check)', 'npx', ['prettier', '--check', '.']],
  ['contracts (buf lint)', 'npx', ['buf', 'lint', 'proto']],
  ['build (buf generate + tsc)', 'npm', ['run', '--silent', 'build']],
  ['typecheck tests and benchmarks (tsc)', 'npx', ['tsc', '-p', 'tsconfig.check.json']],
  ['typecheck the console (tsc)', 'npx', ['tsc', '-p', 'ui/tsconfig.json']],
  ['import cycles (madge)', 'npx', ['madge', '--circular', '--extensions', 'js', 'dist/']],
];

let passed = 0;
let failed = 0;

function run(cmd, args, onLine) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
    let pending = '';
    const feed = (chunk) => {
      pending += chunk.toString();
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    child.on('close', (code) => {
      if (pending !== '') onLine(pending);
      resolve(code ?? 1);
    });
  });
}

for (const [name, cmd, args] of checks) {
  const out = [];
  const code = await run(cmd, args, (l) => out.push(l));
  if (code === 0) {
    passed++;
    console.log(`ok - check: ${name}`);
  } else {
    failed++;
    console.log(`not ok - check: ${name}`);
    for (const l of out) console.log(`  ${l}`);
  }
}

let avaPassed = 0;
let avaFailed = 0;
async function ava(args) {
  let failedHere = 0;
  const code = await run('npx', ['ava', '--tap', ...args], (line) => {
    console.log(line);
    if (/^ok \d+/.test(line)) avaPassed++;
    else if (/^not ok \d+/.test(line)) failedHere++;
  });
  // ava exiting non-zero with no failing test reported (a crash, a timeout) still fails the run.
  avaFailed += code !== 0 && failedHere === 0 ? 1 : failedHere;
}
const only = process.argv.slice(2);
if (only.length > 0) {
  await ava(only);
} else {
  // The main suite, then the tests that need the machine to themselves (test/alone/: several
  // servers under continuous load with a propagation deadline), one at a time.
  await ava([]);
  await ava(['--config', 'ava.alone.config.mjs']);
}
passed += avaPassed;
failed += avaFailed;
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
