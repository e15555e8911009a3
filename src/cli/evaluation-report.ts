/**
 * `quiver evaluate --html`: one self-contained HTML file with the console's evaluation plots.
 * The report script (ui/src/report.tsx, bundled by `npm run build` into dist/ui/report.js) and
 * the console's stylesheet are inlined, and the evaluations are embedded as JSON, so the file
 * opens anywhere (a CI artifact, an e-mail) with no server and no network.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { failedPrecondition } from '../core/errors.js';
import { Evaluation } from '../gen/quiver/v1/registry.js';
import { PACKAGE_ROOT } from '../paths.js';

export interface EvaluationReport {
  readonly model: string;
  readonly candidate: Evaluation;
  readonly production: Evaluation | null;
  /** One line: does the candidate beat Production, and by how much. */
  readonly verdict: string;
}

/** JSON safe inside a script element: no `</script>`, no comment openers, no line separators. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function asset(name: string): string {
  try {
    return readFileSync(join(PACKAGE_ROOT, 'dist', 'ui', name), 'utf8');
  } catch {
    throw failedPrecondition(`the report's assets are not built (no dist/ui/${name} in ${PACKAGE_ROOT}): run npm run build`);
  }
}

export function evaluationReportHtml(report: EvaluationReport): string {
  const data = {
    model: report.model,
    generatedAt: new Date().toISOString(),
    candidate: Evaluation.toJSON(report.candidate),
    production: report.production === null ? null : Evaluation.toJSON(report.production),
    verdict: report.verdict,
  };
  // A script's text may not hold "</script": the bundle never does, but make sure.
  const script = asset('report.js').replace(/<\/script/gi, '<\\/script');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`Evaluation of ${report.model} version ${report.candidate.version}`)}</title>
<style>
${asset('console.css')}
</style>
</head>
<body>
<div id="app"></div>
<noscript>This report draws its plots with JavaScript: open it in a browser that runs scripts for local files.</noscript>
<script type="application/json" id="quiver-report-data">${scriptJson(data)}</script>
<script>
${script}
</script>
</body>
</html>
`;
}
