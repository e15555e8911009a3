/**
 * This replica's side of the running rollouts, on the request path: which version a request for
 * a model's default version goes to (canary: a weighted split, sticky per `x-quiver-route-key`),
 * which answers are copied to a shadow candidate, and the tallies of both versions that the
 * analysis sums across replicas. The follower applies the registry's rollouts here
 * (RolloutEngine.apply); with none running, a request costs one Map lookup.
 */
import type { CallContext } from '../core/context.js';
import type { RolloutStrategy } from './types.js';
import { VersionTally } from './tally.js';

/** The metadata key (and HTTP header) that keeps a caller's canary assignment sticky. */
export const ROUTE_KEY = 'x-quiver-route-key';

export interface Route {
  readonly rolloutId: number;
  readonly strategy: RolloutStrategy;
  readonly baseline: number;
  readonly candidate: number;
  /** Percent of requests: canary, routed to the candidate; shadow, copied to it. */
  readonly weight: number;
  readonly tallies: { readonly baseline: VersionTally; readonly candidate: VersionTally };
  /** Shadow: answers compared with the candidate's, and those that differed. */
  readonly shadow: { compared: number; disagreed: number };
}

/** FNV-1a, 32 bits: a route key's stable place in [0, 10000). */
function slotOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % 10_000;
}

/** Whether this request falls in the first `weight` percent: by its route key when it has one, else at random. */
function drawn(weight: number, ctx: CallContext | undefined): boolean {
  if (weight <= 0) return false;
  if (weight >= 100) return true;
  const key = ctx?.metadata.get(ROUTE_KEY);
  return key !== undefined && key !== '' ? slotOf(key) < weight * 100 : Math.random() * 100 < weight;
}

export class RolloutRouter {
  private readonly routes = new Map<string, Route>();

  set(model: string, route: Route | undefined): void {
    if (route === undefined) this.routes.delete(model);
    else this.routes.set(model, route);
  }

  get(model: string): Route | undefined {
    return this.routes.get(model);
  }

  all(): Array<[string, Route]> {
    return [...this.routes];
  }

  /**
   * Canary: the route when this request for the model's default version goes to its candidate,
   * else undefined (the default serves it). The caller keeps it: the route may end meanwhile.
   */
  canaryFor(model: string, ctx: CallContext): Route | undefined {
    const r = this.routes.get(model);
    return r !== undefined && r.strategy === 'canary' && drawn(r.weight, ctx) ? r : undefined;
  }

  /** Shadow: the candidate to copy this answer of `version` to, or undefined. */
  shadowFor(model: string, version: number, ctx: CallContext): number | undefined {
    const r = this.routes.get(model);
    return r !== undefined && r.strategy === 'shadow' && r.baseline === version && drawn(r.weight, ctx) ? r.candidate : undefined;
  }

  /** Counts a call of a version in a rollout: answered, or failed by the server, and its time. */
  observe(model: string, version: number, ok: boolean, seconds: number | null): void {
    const r = this.routes.get(model);
    if (r === undefined) return;
    if (version === r.candidate) r.tallies.candidate.record(ok, seconds);
    else if (version === r.baseline) r.tallies.baseline.record(ok, seconds);
  }

  /** Shadow: the candidate's answer against the one the caller got. */
  compared(model: string, same: boolean): void {
    const r = this.routes.get(model);
    if (r === undefined) return;
    r.shadow.compared++;
    if (!same) r.shadow.disagreed++;
  }
}
