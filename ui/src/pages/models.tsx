/** The Models page: every registered model, what it serves by default, and how it is doing now. */
import { useRef } from 'preact/hooks';

import type { ModelSummary, VersionStats } from '../../../gateway/client/prediction-messages.js';
import type { RegisteredModel } from '../../../gateway/client/registry-messages.js';
import { LoadState } from '../action.js';
import { PredictionService, describeError, init } from '../api.js';
import { count, num, pct } from '../format.js';
import { useLoad } from '../load.js';
import { allModels } from '../registry-data.js';
import { modelHref } from '../route.js';

/** How often the live figures refresh. */
const REFRESH_MS = 5000;

export interface ModelLive {
  readonly requests: number;
  readonly errors: number;
  readonly errorRate: number;
  /** Some served version's drift verdict is "drifted"; undefined when no version was evaluated. */
  readonly drifted: boolean | undefined;
}

/** A model's figures summed over its served versions (the rule the tests read back). */
export function liveOf(stats: readonly VersionStats[], model: string): ModelLive {
  const mine = stats.filter((s) => s.modelName === model);
  const requests = mine.reduce((a, s) => a + (s.requests ?? 0), 0);
  const errors = mine.reduce((a, s) => a + (s.errors ?? 0), 0);
  const evaluated = mine.filter((s) => s.drift?.evaluated === true);
  return {
    requests,
    errors,
    errorRate: requests === 0 ? 0 : errors / requests,
    drifted: evaluated.length === 0 ? undefined : evaluated.some((s) => s.drift?.drifted === true),
  };
}

interface ModelsData {
  readonly models: RegisteredModel[];
  readonly served: Map<string, ModelSummary>;
  readonly stats: VersionStats[];
  /** Why the live figures are missing (their routes follow the inference rule: authInference needs the infer scope). */
  readonly liveError: string | undefined;
  /** Requests per second by model since the previous read; empty on the first. */
  readonly rates: Map<string, number>;
}

export function ModelsPage() {
  // The previous read's requests by model, for the rates.
  const previous = useRef<{ at: number; requests: Map<string, number> } | undefined>(undefined);
  const loaded = useLoad<ModelsData>(
    async () => {
      const [models, served, stats] = await Promise.all([
        allModels(),
        PredictionService.ListModels({}, init()).catch((err: unknown) => err as Error),
        PredictionService.GetStats({}, init()).catch((err: unknown) => err as Error),
      ]);
      const refused = [served, stats].find((r) => r instanceof Error);
      const at = performance.now();
      const versions = stats instanceof Error ? [] : (stats.versions ?? []);
      const requests = new Map(models.map((m) => [m.name ?? '', liveOf(versions, m.name ?? '').requests]));
      const before = previous.current;
      previous.current = { at, requests };
      const rates = new Map<string, number>();
      if (before !== undefined && at > before.at)
        for (const [name, n] of requests) rates.set(name, Math.max(0, (n - (before.requests.get(name) ?? 0)) / ((at - before.at) / 1000)));
      return {
        models,
        rates,
        served: new Map((served instanceof Error ? [] : (served.models ?? [])).map((m) => [m.name ?? '', m])),
        stats: versions,
        liveError: refused === undefined ? undefined : describeError(refused),
      };
    },
    'models',
    REFRESH_MS,
  );
  const data = loaded.data;
  const rate = (name: string): string => {
    const r = data?.rates.get(name);
    return r === undefined ? '—' : num(r, 1);
  };
  return (
    <>
      <h1 tabIndex={-1}>Models</h1>
      <LoadState error={loaded.error} loading={data === undefined} />
      {data?.liveError !== undefined && (
        <p role="alert" class="alert">
          No live figures: {data.liveError}
        </p>
      )}
      {data !== undefined && (
        <section class="card">
          <table data-table="models">
            <caption class="muted">Live figures since this server started, refreshed every {REFRESH_MS / 1000} s</caption>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Default version</th>
                <th scope="col">Aliases</th>
                <th scope="col" class="num">
                  Requests/s
                </th>
                <th scope="col" class="num">
                  Requests
                </th>
                <th scope="col" class="num">
                  Error rate
                </th>
                <th scope="col">Drift</th>
              </tr>
            </thead>
            <tbody>
              {data.models.map((m) => {
                const name = m.name ?? '';
                const live = liveOf(data.stats, name);
                const served = data.served.get(name);
                return (
                  <tr key={name} data-model={name}>
                    <th scope="row">
                      <a href={modelHref(name)}>{name}</a>
                    </th>
                    <td data-field="default-version">{served?.defaultVersion || <span class="muted">not served</span>}</td>
                    <td>
                      {Object.entries(m.aliases ?? {})
                        .sort(([a], [b]) => a.localeCompare(b))
                        .map(([alias, v]) => (
                          <span class="chip" key={alias}>
                            {alias} → {v}
                          </span>
                        ))}
                    </td>
                    <td class="num" data-field="rate">
                      {rate(name)}
                    </td>
                    <td class="num" data-field="requests">
                      {count(live.requests)}
                    </td>
                    <td class="num" data-field="error-rate">
                      {pct(live.errorRate)}
                    </td>
                    <td data-field="drift">
                      {live.drifted === undefined ? (
                        <span class="muted">not evaluated</span>
                      ) : live.drifted ? (
                        <span class="flag-bad">drifted</span>
                      ) : (
                        <span class="flag-ok">no drift</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {data.models.length === 0 && <p>No registered models yet: `quiver train` registers one.</p>}
        </section>
      )}
    </>
  );
}
