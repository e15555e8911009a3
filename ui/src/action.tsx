/**
 * An action that changes the registry (promote, transition, alias, rollout). The console is
 * read-only until a registry token is typed: without one, an action is refused here and sends
 * nothing; with one, the server checks its scope as it checks every client's.
 */
import type { ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';

import { describeError, getToken } from './api.js';

export interface ActionProps {
  /** The button's text; `label` its accessible name when the text alone is ambiguous. */
  readonly children: ComponentChildren;
  readonly label?: string;
  /** The scope the server will ask for, named in the refusal. */
  readonly scope: 'registry:promote' | 'registry:write';
  readonly run: () => Promise<unknown>;
  /** Called after the server accepted the action. */
  readonly onDone: () => void;
  readonly disabled?: boolean;
  readonly testId?: string;
  /** A small inline button (inside an alias chip). */
  readonly compact?: boolean;
}

/** Says `message` through the page's one live region (main.tsx), which outlives any button. */
export function announce(message: string): void {
  const region = document.getElementById('announcer');
  if (region !== null) region.textContent = message;
}

/**
 * After the page re-renders: when `button` is gone (an alias removed) or disabled (a version
 * promoted), the focus goes to the page's heading instead of being lost.
 */
function keepFocus(button: HTMLButtonElement | null): void {
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      if (button !== null && button.isConnected && !button.disabled) return;
      document.querySelector<HTMLElement>('main h1')?.focus();
    }),
  );
}

export function ActionButton(props: ActionProps) {
  const [state, setState] = useState<{ kind: 'idle' | 'busy' | 'done' | 'error'; message: string }>({ kind: 'idle', message: '' });
  const button = useRef<HTMLButtonElement>(null);
  const click = (): void => {
    if (getToken() === '') {
      setState({ kind: 'error', message: `Refused: the console is read-only. Type a registry token with the ${props.scope} scope above.` });
      return;
    }
    setState({ kind: 'busy', message: 'working…' });
    props
      .run()
      .then(() => {
        setState({ kind: 'done', message: 'done' });
        announce(`${props.label ?? 'the action'}: done`);
        props.onDone();
        keepFocus(button.current);
      })
      .catch((err: unknown) => setState({ kind: 'error', message: `Refused: ${describeError(err)}` }));
  };
  return (
    <span class="actions">
      <button
        ref={button}
        type="button"
        class={props.compact === true ? 'inline' : 'primary'}
        aria-label={props.label}
        disabled={props.disabled === true || state.kind === 'busy'}
        onClick={click}
        data-action={props.testId}
      >
        {props.children}
      </button>
      {state.kind === 'error' && (
        <span role="alert" class="alert" data-action-result={props.testId}>
          {state.message}
        </span>
      )}
      {state.kind === 'done' && (
        <span role="status" class="notice" data-action-result={props.testId}>
          {state.message}
        </span>
      )}
    </span>
  );
}

/** A page's loading or error line. */
export function LoadState({ error, loading }: { error: string | undefined; loading: boolean }) {
  if (error !== undefined)
    return (
      <p role="alert" class="alert">
        {error}
      </p>
    );
  return loading ? (
    <p role="status" class="muted">
      Loading…
    </p>
  ) : null;
}
