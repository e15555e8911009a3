/** Loading a page's data: the value, the error, a reload, and an optional refresh period. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

import { describeError } from './api.js';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly reload: () => void;
}

/**
 * Runs `fetcher` when `key` changes, on reload(), and every `refreshMs` when given. A refresh
 * is skipped while a load is still out (a slow server is not sent more), and an answer is
 * shown unless a newer one was shown already.
 */
export function useLoad<T>(fetcher: () => Promise<T>, key: string, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const started = useRef(0);
  const shown = useRef(0);
  const outstanding = useRef(0);
  const latest = useRef(fetcher);
  latest.current = fetcher;
  const reload = useCallback(() => {
    const mine = ++started.current;
    outstanding.current++;
    latest
      .current()
      .then((value) => {
        if (mine < shown.current) return;
        shown.current = mine;
        setData(value);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (mine < shown.current) return;
        shown.current = mine;
        setError(describeError(err));
      })
      .finally(() => outstanding.current--);
  }, []);
  useEffect(() => {
    setData(undefined);
    shown.current = started.current + 1;
    reload();
    if (refreshMs === undefined) return undefined;
    const timer = setInterval(() => {
      if (outstanding.current === 0) reload();
    }, refreshMs);
    return () => clearInterval(timer);
  }, [key, refreshMs, reload]);
  return { data, error, reload };
}
