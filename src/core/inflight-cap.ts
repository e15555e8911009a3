/**
 * The server-wide in-flight cap (option maxInflight): how many predict calls, over every model
 * and both transports, the server handles at once. The transports check it first, before a
 * call's message is read or decoded (src/grpc/inflight-interceptor.ts, the gateway's
 * onRequest hook), so a refusal under overload costs a counter and a short answer: the
 * cheapest RESOURCE_EXHAUSTED the server can give. The per-model admission (admission.ts)
 * runs later, after decoding and validation, and judges queue waiting time; this cap bounds
 * the work that reaches it when offered load is a multiple of what the server can answer.
 */
import { queueFull, type QuiverError } from './errors.js';

export class InflightCap {
  private count = 0;
  /** Calls refused at the cap since the start (exported as quiver_inflight_refused_total). */
  private refusedCount = 0;

  /**
   * @param limit calls at once; 0 turns the cap off.
   * @param retryPushbackMs the `grpc-retry-pushback-ms` (and `Retry-After`) a refusal carries.
   */
  constructor(
    readonly limit: number,
    readonly retryPushbackMs: number,
  ) {}

  /** Takes a slot, or counts a refusal and returns false. Every true must be followed by one leave(). */
  tryEnter(): boolean {
    if (this.limit > 0 && this.count >= this.limit) {
      this.refusedCount++;
      return false;
    }
    this.count++;
    return true;
  }

  leave(): void {
    this.count--;
  }

  /** Calls holding a slot now. */
  get size(): number {
    return this.count;
  }

  get refused(): number {
    return this.refusedCount;
  }

  /** What a refused call is told: RESOURCE_EXHAUSTED (HTTP 429) with the retry pushback. */
  refusal(): QuiverError {
    return queueFull(`the server is handling ${this.limit} calls at once (maxInflight); retry later`, this.retryPushbackMs);
  }
}
