/** Now, in epoch milliseconds with sub-millisecond precision. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

/** Records child spans of the call's trace (set by the transport only when tracing is on). */
export interface TraceHook {
  /** A finished child span: name, start and end (epoch ms), attributes. */
  child(name: string, startMs: number, endMs: number, attributes?: Record<string, string | number>): void;
}

/** The caller's request metadata (gRPC metadata or HTTP headers), by lowercase key, first value. */
export interface CallMetadata {
  get(key: string): string | undefined;
}

/** The authenticated caller (a valid API token's name and scopes). */
export interface CallPrincipal {
  readonly name: string;
}

const NO_METADATA: CallMetadata = { get: () => undefined };

/**
 * Per-call state every transport hands to the handlers and the core, in no transport's types:
 * the deadline, cancellation, the caller's metadata, the authenticated principal and tracing.
 */
export class CallContext {
  /** Present only when tracing is on: the core then reports its steps as child spans. */
  trace: TraceHook | undefined;

  private cancelledFlag = false;
  // A unary call has one listener at most: keep it in a field and only allocate a Set for
  // contexts shared by many requests (a PredictStream).
  private first: (() => void) | undefined;
  private more: Set<() => void> | undefined;

  /**
   * @param deadline epoch milliseconds; Infinity when the caller set none.
   * @param metadata the caller's metadata (read lazily: the transport's own carrier, wrapped).
   * @param principal who the access check authenticated; undefined for an anonymous call.
   */
  constructor(
    readonly deadline: number = Infinity,
    readonly metadata: CallMetadata = NO_METADATA,
    readonly principal: CallPrincipal | undefined = undefined,
  ) {}

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  expired(now: number = Date.now()): boolean {
    return now >= this.deadline;
  }

  cancel(): void {
    if (this.cancelledFlag) return;
    this.cancelledFlag = true;
    const first = this.first;
    const more = this.more;
    this.first = undefined;
    this.more = undefined;
    first?.();
    if (more !== undefined) for (const l of more) l();
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
    if (this.first === undefined) {
      this.first = listener;
      return () => {
        if (this.first === listener) this.first = undefined;
      };
    }
    (this.more ??= new Set()).add(listener);
    return () => this.more?.delete(listener);
  }

  /** Listeners currently registered (for tests and leak checks). */
  get listenerCount(): number {
    return (this.first === undefined ? 0 : 1) + (this.more?.size ?? 0);
  }
}

const noop = (): void => undefined;
