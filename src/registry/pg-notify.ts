/**
 * Change notifications of a shared (PostgreSQL) registry: every write transaction sends
 * NOTIFY quiver_registry with the model's name (pg-store.ts), delivered on commit, and every
 * replica LISTENs, so its follower hears of a promotion at once.
 */
import pg from 'pg';

import { CATCH_UP } from './types.js';

export const NOTIFY_CHANNEL = 'quiver_registry';

/**
 * Calls `listener` with the model's name whenever any replica commits a change to it
 * (LISTEN/NOTIFY on a connection of its own, reconnecting after failures); returns the unsubscribe.
 */
export function subscribe(url: string, listener: (model: string) => void, onError: (err: Error) => void): () => void {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = (): void => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url });
    client = c;
    const reconnect = (err: Error): void => {
      onError(err);
      c.removeAllListeners();
      c.end().catch(() => undefined);
      if (!stopped) retry = setTimeout(connect, 1000);
    };
    c.on('error', reconnect);
    c.on('notification', (n) => {
      if (n.channel === NOTIFY_CHANNEL && n.payload !== undefined) listener(n.payload);
    });
    c.connect()
      .then(() => c.query(`LISTEN ${NOTIFY_CHANNEL}`))
      // Listening (again): changes made while it was not are caught up by the listener.
      .then(() => listener(CATCH_UP))
      .catch(reconnect);
  };
  connect();
  return () => {
    stopped = true;
    if (retry !== undefined) clearTimeout(retry);
    client?.removeAllListeners();
    client?.end().catch(() => undefined);
  };
}
