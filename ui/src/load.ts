/** Loading a page's data: the value, the error, a reload, and an optional refresh period. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

import { describeError } from './api.js';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly reload: () => void;
}

/** Runs `fetcher` when `key` changes (and every `refreshMs` when given); a newer answer replaces an older one. */
export function useLoad<T>(fetcher: () => Promise<T>, key: string, refreshMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const seq = useRef(0);
  const latest = useRef(fetcher);
  latest.current = fetcher;
  const reload = useCallback(() => {
    const mine = ++seq.current;
    latest
      .current()
      .then((value) => {
        if (mine !== seq.current) return;
        setData(value);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (mine === seq.current) setError(describeError(err));
      });
  }, []);
  useEffect(() => {
    setData(undefined);
    reload();
    if (refreshMs === undefined) return undefined;
    const timer = setInterval(reload, refreshMs);
    return () => clearInterval(timer);
  }, [key, refreshMs, reload]);
  return { data, error, reload };
}
