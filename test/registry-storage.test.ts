/**
 * The storage under the registry's rules (storage.ts), on both databases: parallel writes
 * each get their own transaction (versions 1..N, one audit row each), a statement outside a
 * transaction never sees another transaction's uncommitted rows (SQLite has one connection
 * and queues the work on it), and a failed transaction leaves nothing behind.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import test from 'ava';

import { Lineage } from '../src/gen/quiver/v1/registry.js';
import { PgStorage } from '../src/registry/pg-store.js';
import { SqlRegistryStore } from '../src/registry/sql-store.js';
import { SqliteStorage } from '../src/registry/sqlite-store.js';
import type { Storage } from '../src/registry/storage.js';
import { BACKENDS } from './helpers/backends.js';
import { tmp } from './helpers/fixtures.js';

const SIGNATURE = { inputs: [], outputs: [], featureNames: null, onnxMetadata: {} };

for (const backend of BACKENDS) {
  test(`[${backend.name}] parallel writes are one transaction each; uncommitted rows are never seen; a failed transaction leaves nothing`, async (t) => {
    const db = await backend.create();
    const storage: Storage = db.url === '' ? new SqliteStorage(join(tmp('quiver-storage-'), 'registry.db')) : await PgStorage.open(db.url);
    const store = new SqlRegistryStore(storage);
    try {
      const created = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          store.createVersion(
            {
              modelName: 'm',
              sha256: String(i).padStart(64, '0'),
              sizeBytes: i,
              signature: SIGNATURE,
              lineage: Lineage.fromPartial({}),
              description: '',
              tags: {},
            },
            'tester',
          ),
        ),
      );
      t.deepEqual(
        created.map((v) => v.version).sort((a, b) => a - b),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );
      t.is((await store.audit('m', 0, 100)).length, 13);

      // A transaction that writes, waits, then fails; a read and a write meanwhile.
      let inside!: () => void;
      const started = new Promise<void>((resolve) => (inside = resolve));
      const failing = storage.transaction(async (tx) => {
        await tx.run(
          `INSERT INTO quiver_models (name, created_at, updated_at) VALUES ('ghost', ${storage.dialect.now}, ${storage.dialect.now})`,
        );
        inside();
        await sleep(100);
        throw new Error('changed its mind');
      });
      await started;
      const seen = await storage.all<{ name: string }>("SELECT name FROM quiver_models WHERE name = 'ghost'");
      const other = store.createModel('other', '', {}, 'tester');
      await t.throwsAsync(failing, { message: 'changed its mind' });
      t.deepEqual(seen, []);
      t.is((await other).name, 'other');
      t.is(await store.getModel('ghost'), undefined);
      t.deepEqual(
        (await store.listModels('', 10)).map((m) => m.name),
        ['m', 'other'],
      );
    } finally {
      await store.close();
      await db.drop();
    }
  });
}
