// Builds the web console (ui/) into dist/ui: esbuild bundles Preact, Chart.js and the pages into
// one script per entry (the console's app.js, and report.js for `quiver evaluate --html`),
// minified, with no CDN and nothing fetched at run time. Run by `npm run build` (so by npm ci).
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { app: join(root, 'ui', 'src', 'main.tsx'), report: join(root, 'ui', 'src', 'report.tsx') },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'eof',
  logLevel: 'warning',
});
for (const file of ['index.html', 'console.css', 'favicon.svg']) copyFileSync(join(root, 'ui', file), join(out, file));
