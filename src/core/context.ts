/** Per-call state the transports hand to the core: the deadline and cancellation. */
export class CallContext {
  private cancelledFlag = false;
  private listeners: Array<() => void> | undefined;

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

  onCancel(listener: () => void): void {
    if (this.cancelledFlag) {
      listener();
      return;
    }
    (this.listeners ??= []).push(listener);
  }
}
