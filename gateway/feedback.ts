/**
 * The blueprint-style `POST /feedback` body: one outcome `{"id": "...", "label": 1}` (or
 * `"value"` for regressors), or many `{"outcomes": [{"id": ..., "label" | "value": ...}]}`,
 * checked strictly here (a wrong type names its field) and sent as RecordOutcomes. Its answer
 * is the RPC's in the blueprint's snake_case.
 */
import { echo, invalidArgument } from '../src/core/errors.js';
import type { Outcome, RecordOutcomesRequest, RecordOutcomesResponse } from '../src/gen/quiver/v1/prediction.js';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

const OUTCOME_KEYS = new Set(['id', 'label', 'value']);

const typeOf = (x: unknown): string => (x === null ? 'null' : Array.isArray(x) ? 'an array' : `a ${typeof x}`);

function outcomeOf(v: unknown, where: string): Outcome {
  if (!isObject(v)) throw invalidArgument(`${where}: expected an object like {"id": "...", "label": 1}`);
  for (const k in v)
    if (Object.hasOwn(v, k) && !OUTCOME_KEYS.has(k))
      throw invalidArgument(`${where}.${echo(k)}: unknown field (expected id, label or value)`);
  const prefix = where === '' ? '' : `${where}.`;
  if (typeof v.id !== 'string') throw invalidArgument(`${prefix}id: expected the prediction's id, a string, got ${typeOf(v.id)}`);
  const outcome: Outcome = { id: v.id };
  for (const field of ['label', 'value'] as const) {
    const x = v[field];
    if (x === undefined || x === null) continue;
    if (typeof x !== 'number') throw invalidArgument(`${prefix}${field}: expected a number, got ${typeOf(x)}`);
    outcome[field] = x;
  }
  return outcome;
}

/** The request of a `POST /feedback` body; `maxOutcomes` bounds the list before any per-item work. */
export function feedbackRequest(body: unknown, maxOutcomes: number): RecordOutcomesRequest {
  if (!isObject(body)) throw invalidArgument('request body: expected a JSON object like {"id": "...", "label": 1}');
  if (body.outcomes === undefined) {
    const one = outcomeOf(body, '');
    // The single form's own words: no `outcomes[0]` in its errors.
    if (one.label === undefined && one.value === undefined)
      throw invalidArgument('label: required, the true class (or value, the true value, for a regressor)');
    return { outcomes: [one] };
  }
  for (const k in body) if (Object.hasOwn(body, k) && k !== 'outcomes') throw invalidArgument(`${echo(k)}: unknown field next to outcomes`);
  if (!Array.isArray(body.outcomes)) throw invalidArgument('outcomes: expected an array of {"id": "...", "label": 1}');
  if (body.outcomes.length > maxOutcomes)
    throw invalidArgument(`outcomes: ${body.outcomes.length} outcomes is over the limit of ${maxOutcomes} per call; split them`);
  return { outcomes: body.outcomes.map((o: unknown, i: number) => outcomeOf(o, `outcomes[${i}]`)) };
}

export const feedbackAnswer = (r: RecordOutcomesResponse): Record<string, unknown> => ({
  recorded: r.recorded,
  unknown: r.unknown,
  unknown_ids: r.unknownIds,
});
