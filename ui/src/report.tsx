/**
 * The standalone report of `quiver evaluate --html`: the same plots as the console, rendered from
 * the JSON the command embeds in the file (a script element of type application/json).
 */
import { render } from 'preact';

import type { Evaluation } from '../../gateway/client/registry-messages.js';
import { EvaluationComparison, EvaluationPlots } from './evaluation.js';

interface ReportData {
  readonly model: string;
  readonly generatedAt: string;
  readonly candidate: Evaluation;
  readonly production: Evaluation | null;
  readonly verdict: string;
}

function Report({ data }: { data: ReportData }) {
  const candidate = `version ${data.candidate.version ?? ''}`;
  return (
    <main>
      <h1>
        Evaluation of {data.model} {candidate}
      </h1>
      <p role="status">{data.verdict}</p>
      {data.production !== null && (
        <section class="card">
          <h2>Against Production (version {data.production.version})</h2>
          <EvaluationComparison
            a={{ label: candidate, evaluation: data.candidate }}
            b={{ label: `version ${data.production.version ?? ''} (Production)`, evaluation: data.production }}
          />
        </section>
      )}
      <section class="card">
        <h2>{candidate}</h2>
        <EvaluationPlots evaluation={data.candidate} label={candidate} />
      </section>
      <p class="muted">Written by quiver evaluate at {data.generatedAt}.</p>
    </main>
  );
}

const source = document.getElementById('quiver-report-data');
const root = document.getElementById('app');
if (source !== null && root !== null) render(<Report data={JSON.parse(source.textContent ?? '{}') as ReportData} />, root);
