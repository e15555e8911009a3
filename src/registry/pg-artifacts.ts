/**
 * Artifacts in PostgreSQL, for replicas sharing a registry: the bytes in 1 MiB chunks (bytea),
 * written in one transaction with a header row, so a half-written artifact never exists.
 * Uploads stage in a local temp file (as in the directory store); servers keep a verified local
 * copy of what they load, under the data directory, for the inference workers.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { modelLoadFailed, storageFailed } from '../core/errors.js';
import { type ArtifactBackend, ArtifactStore, type ArtifactUpload, cachedLocalPath } from './artifacts.js';
import type { PgStorage } from './pg-store.js';

const CHUNK_BYTES = 1024 * 1024;

export class PgArtifactStore implements ArtifactBackend {
  /** The local side: temp uploads and the cache of loaded artifacts. */
  private readonly local: ArtifactStore;

  constructor(
    private readonly store: PgStorage,
    localDir: string,
    maxBytes: number,
  ) {
    this.local = new ArtifactStore(join(localDir, 'cache'), maxBytes);
  }

  open(): Promise<void> {
    return this.local.open();
  }

  begin(): Promise<ArtifactUpload> {
    return this.local.begin();
  }

  async commit(upload: ArtifactUpload, sha256: string): Promise<void> {
    try {
      const bytes = await readFile(upload.tmpPath);
      await this.store.transaction(async (tx) => {
        if ((await tx.all('SELECT 1 FROM quiver_artifacts WHERE sha256 = ? FOR UPDATE', [sha256])).length !== 0) return;
        const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
        await tx.run(
          'INSERT INTO quiver_artifacts (sha256, size_bytes, chunks, created_at) VALUES (?, ?, ?, now()) ON CONFLICT DO NOTHING',
          [sha256, bytes.length, chunks],
        );
        for (let i = 0; i < chunks; i++) {
          await tx.run('INSERT INTO quiver_artifact_chunks (sha256, chunk, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [
            sha256,
            i,
            bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES),
          ]);
        }
      });
    } catch (err) {
      throw err instanceof Error && 'code' in err && String((err as { code: unknown }).code).startsWith('QUIVER_')
        ? err
        : storageFailed('cannot store the artifact', err);
    } finally {
      await upload.abort();
    }
  }

  async readVerified(sha256: string): Promise<Buffer> {
    const rows = (
      await this.store.pool.query<{ data: Buffer }>('SELECT data FROM quiver_artifact_chunks WHERE sha256 = $1 ORDER BY chunk', [sha256])
    ).rows;
    if (rows.length === 0) throw modelLoadFailed(`artifact ${sha256} is missing from the registry database`);
    const bytes = Buffer.concat(rows.map((r) => r.data));
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw modelLoadFailed(`artifact ${sha256} is corrupted: its content hashes to ${actual}`);
    return bytes;
  }

  /** A verified copy in the local cache (fetched from the database the first time). */
  localPath(sha256: string): Promise<string> {
    return cachedLocalPath(this.local, sha256, () => this.readVerified(sha256));
  }

  async remove(sha256: string): Promise<void> {
    await this.store.pool.query('DELETE FROM quiver_artifacts WHERE sha256 = $1', [sha256]);
    await this.local.remove(sha256);
  }

  async close(): Promise<void> {
    // The pool belongs to the store, which closes it.
  }
}
