/**
 * The registry's backend choice: which metadata store and artifact store to open from the
 * options. Embedded (SQLite + an artifact directory under the data directory) by default,
 * PostgreSQL (metadata and chunked artifacts) when `url` is postgres://...; artifacts go to S3
 * instead when `artifactUrl` is s3://...
 */
import { join, resolve } from 'node:path';

import { type ArtifactBackend, ArtifactStore } from './artifacts.js';
import { PgArtifactStore } from './pg-artifacts.js';
import { subscribe } from './pg-notify.js';
import { PgStorage } from './pg-store.js';
import { SqlRegistryStore } from './sql-store.js';
import { SqliteStorage } from './sqlite-store.js';
import type { Storage } from './storage.js';
import type { RegistryStore } from './types.js';

export interface StoreOptions {
  readonly dataDir: string;
  /** The largest artifact accepted, bytes. */
  readonly maxUploadBytes: number;
  /** '' for the embedded registry (SQLite + a directory), or postgres://... for a shared one. */
  readonly url?: string;
  /** '' to keep artifacts with the registry (the directory, or PostgreSQL), or s3://bucket/prefix. */
  readonly artifactUrl?: string;
  /** For s3:// artifacts: the endpoint of an S3-compatible store ('' = AWS) and path-style addressing. */
  readonly s3Endpoint?: string;
  readonly s3ForcePathStyle?: boolean;
}

/** Hears of other processes' committed changes at once; returns the unsubscribe. */
export type ExternalChanges = (listener: (model: string) => void, onError: (err: Error) => void) => () => void;

export interface OpenedStores {
  readonly store: RegistryStore;
  /** The database under `store`, which also keeps the prediction log (src/feedback/). */
  readonly storage: Storage;
  /** The database file, when it is SQLite. */
  readonly sqlitePath?: string;
  /** Opened. */
  readonly artifacts: ArtifactBackend;
  /** Set for a shared (PostgreSQL) registry; SQLite is polled. */
  readonly external?: ExternalChanges;
}

export async function openStores(options: StoreOptions): Promise<OpenedStores> {
  const url = options.url ?? '';
  const artifactUrl = options.artifactUrl ?? '';
  // Absolute, so artifact paths (handed to trial-load children in another directory) stay valid.
  const dataDir = resolve(options.dataDir);
  const localDir = join(dataDir, 'artifacts');
  // The AWS SDK is loaded only when S3 is configured (it is large, and most users never need it).
  const s3 = async (): Promise<ArtifactBackend> =>
    new (await import('./s3-artifacts.js')).S3ArtifactStore(
      { url: artifactUrl, endpoint: options.s3Endpoint ?? '', forcePathStyle: options.s3ForcePathStyle ?? false },
      localDir,
      options.maxUploadBytes,
    );
  if (url === '') {
    const artifacts = artifactUrl === '' ? new ArtifactStore(localDir, options.maxUploadBytes) : await s3();
    await artifacts.open();
    const sqlitePath = join(dataDir, 'registry.db');
    const storage = new SqliteStorage(sqlitePath);
    return { store: new SqlRegistryStore(storage), storage, sqlitePath, artifacts };
  }
  const storage = await PgStorage.open(url);
  const artifacts = artifactUrl === '' ? new PgArtifactStore(storage, localDir, options.maxUploadBytes) : await s3();
  await artifacts.open();
  return { store: new SqlRegistryStore(storage), storage, artifacts, external: (listener, onError) => subscribe(url, listener, onError) };
}
