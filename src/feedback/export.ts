/**
 * `quiver data export`: the logged predictions of a model that have an outcome, as the
 * training CSV `quiver train` takes (the model's feature columns, then `target`), so the next
 * version can be trained on live traffic and its ground truth.
 */
import { failedPrecondition, invalidArgument } from '../core/errors.js';
import type { Registry } from '../registry/registry.js';
import type { ExportRow } from './prediction-store.js';

/** `30m`, `24h`, `7d` (or plain seconds) as milliseconds. */
export function parseSince(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw invalidArgument(`--since: '${text}' is not a duration like 30m, 24h or 7d`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export interface ExportTable {
  readonly columns: string[];
  readonly rows: number[][];
  /** The versions whose predictions the rows are. */
  readonly versions: number[];
}

const PAGE = 5000;

/**
 * The rows of `modelName` (only `version`'s when given) logged within `sinceMs` that have an
 * outcome. The columns are the feature names of that version, else of the model's newest one.
 */
export async function exportTrainingTable(
  registry: Registry,
  modelName: string,
  version: number | undefined,
  sinceMs: number | undefined,
): Promise<ExportTable> {
  const model = await registry.getModel(modelName);
  const source = version ?? model.latestVersion;
  const record = await registry.store.getVersion(modelName, source);
  if (record === undefined) throw failedPrecondition(`model '${modelName}' has no version ${source}`);
  const features = record.signature.featureNames;
  if (features === null || features.length === 0)
    throw failedPrecondition(`model '${modelName}' version ${source} takes tensors, not named features: there is no training CSV to write`);
  const from = sinceMs === undefined ? 0 : Date.now() - sinceMs;
  const rows: number[][] = [];
  const versions = new Set<number>();
  let missing: string | undefined;
  for (let after = 0; ;) {
    const page: ExportRow[] = await registry.predictions.exportRows(modelName, version, from, after, PAGE);
    for (const r of page) {
      const row: number[] = [];
      for (const f of features) {
        const x = r.features[f];
        if (typeof x !== 'number') {
          missing ??= f;
          break;
        }
        row.push(x);
      }
      if (row.length !== features.length) continue;
      row.push(r.outcome);
      rows.push(row);
      versions.add(r.version);
    }
    if (page.length < PAGE) break;
    after = (page[page.length - 1] as ExportRow).seq;
  }
  if (rows.length === 0) {
    const scope = `${version === undefined ? `model '${modelName}'` : `model '${modelName}' version ${version}`}${sinceMs === undefined ? '' : ' in that time'}`;
    throw failedPrecondition(
      missing === undefined
        ? `no logged prediction of ${scope} has an outcome yet: send outcomes (POST /feedback or RecordOutcomes) for the ids its answers carried`
        : `the logged predictions of ${scope} lack feature '${missing}': the server's predictionLogFeatures must keep every feature to export a training set`,
    );
  }
  return { columns: [...features, 'target'], rows, versions: [...versions].sort((a, b) => a - b) };
}
