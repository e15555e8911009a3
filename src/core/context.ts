/** Per-call state the transports hand to the core: the deadline and cancellation. */
export class CallContext {
  private cancelledFlag = false;
  private listeners: Set<() => void> | undefined;

  /** @param deadline epoch milliseconds; Infinity when the caller set none. */
  constructor(readonly deadline: number = Infinity) {}

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  expired(now: number = Date.now()): boolean {
    return now >= this.deadline;
  }

  cancel(): void {
    if (this.cancelledFlag) return;
    this.cancelledFlag = true;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners !== undefined) for (const l of listeners) l();
  }

  /**
   * Calls `listener` on cancellation. Returns the function that removes it: one context can
   * outlive many requests (a PredictStream), so each request unsubscribes once it settles.
   */
  onCancel(listener: () => void): () => void {
    if (this.cancelledFlag) {
      listener();
      return noop;
    }
    (this.listeners ??= new Set()).add(listener);
    return () => this.listeners?.delete(listener);
  }

  /** Listeners currently registered (for tests and leak checks). */
  get listenerCount(): number {
    return this.listeners?.size ?? 0;
  }
}

const noop = (): void => undefined;
