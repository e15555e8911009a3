/**
 * Content-addressed artifact storage in a directory: `<dir>/sha256/<aa>/<sha256>.onnx`.
 * Uploads stream into a temp file (hashing as they go, size-capped), are fsynced, then
 * renamed into place, so a file under its hash is always complete. Keys are server-computed
 * hashes: no client ever names a path.
 */
import { createHash, type Hash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { isStorageFull, modelLoadFailed, storageFailed, storageFull, tooLarge } from '../core/errors.js';

const SHA256 = /^[0-9a-f]{64}$/;

export class ArtifactUpload {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private done = false;

  constructor(
    readonly tmpPath: string,
    private readonly file: FileHandle,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.bytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.bytes += chunk.byteLength;
    if (this.bytes > this.maxBytes) throw tooLarge(`the upload is over the limit of ${this.maxBytes} bytes`);
    this.hash.update(chunk);
    try {
      // A nearly full disk takes part of a write without an error: the rest then fails with ENOSPC.
      for (let done = 0; done < chunk.byteLength;) done += (await this.file.write(chunk, done, chunk.byteLength - done)).bytesWritten;
    } catch (err) {
      throw storageError(err, `the upload was refused after ${this.bytes} bytes and nothing was kept`, 'cannot write the upload');
    }
  }

  /** Flushes to disk and returns the content hash. */
  async finish(): Promise<{ sha256: string; sizeBytes: number }> {
    try {
      await this.file.sync();
      await this.file.close();
    } catch (err) {
      throw storageError(err, `the upload was refused after ${this.bytes} bytes and nothing was kept`, 'cannot write the upload');
    }
    this.done = true;
    return { sha256: this.hash.digest('hex'), sizeBytes: this.bytes };
  }

  /** Removes the temp file (after a failure, or when the content is stored already). */
  async abort(): Promise<void> {
    if (!this.done) await this.file.close().catch(() => undefined);
    this.done = true;
    await rm(this.tmpPath, { force: true });
  }
}

/** A filesystem error while storing: the disk full (RESOURCE_EXHAUSTED, saying `whenFull`) or another storage failure (UNAVAILABLE). */
function storageError(err: unknown, whenFull: string, otherwise: string): Error {
  if (isStorageFull(err)) return storageFull(`the registry's artifact storage is full: ${whenFull}`, err);
  return storageFailed(otherwise, err);
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A verified copy of a remote artifact in a local cache directory, for the inference workers:
 * used when it is there and intact, otherwise fetched (and verified by `fetch`) and written
 * atomically (temp file + rename), so concurrent loaders never see half a file.
 */
export async function cachedLocalPath(cache: ArtifactStore, sha256: string, fetch: () => Promise<Buffer>): Promise<string> {
  const path = cache.pathOf(sha256);
  try {
    await cache.readVerified(sha256);
    return path;
  } catch {
    // Not cached yet (or the cached copy is damaged): fetch and verify.
  }
  const bytes = await fetch();
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${randomUUID()}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return path;
}

/** Where artifact bytes live: a directory (embedded), or PostgreSQL / S3 (shared). */
export interface ArtifactBackend {
  open(): Promise<void>;
  /** A temp-file upload (hashing, size-capped); commit() stores it under its hash. */
  begin(): Promise<ArtifactUpload>;
  commit(upload: ArtifactUpload, sha256: string): Promise<void>;
  /** The bytes, checked against their hash: a corrupted artifact is never returned. */
  readVerified(sha256: string): Promise<Buffer>;
  /** A local file with these verified bytes, for the inference workers to load. */
  localPath(sha256: string): Promise<string>;
  remove(sha256: string): Promise<void>;
  close(): Promise<void>;
}

export class ArtifactStore implements ArtifactBackend {
  private readonly tmpDir: string;

  constructor(
    readonly dir: string,
    private readonly maxBytes: number,
  ) {
    this.tmpDir = join(dir, 'tmp');
  }

  /** Creates the directories and removes temp files left by a crash. */
  async open(): Promise<void> {
    await mkdir(join(this.dir, 'sha256'), { recursive: true });
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.dir, 'sha256', sha256.slice(0, 2), `${sha256}.onnx`);
  }

  async begin(): Promise<ArtifactUpload> {
    const tmpPath = join(this.tmpDir, `${randomUUID()}.part`);
    try {
      return new ArtifactUpload(tmpPath, await open(tmpPath, 'wx'), this.maxBytes);
    } catch (err) {
      throw storageError(err, 'no upload can start', 'cannot write an upload');
    }
  }

  /** Moves a finished upload under its hash (or drops it when that content is stored). */
  async commit(upload: ArtifactUpload, sha256: string): Promise<void> {
    const path = this.pathOf(sha256);
    try {
      await mkdir(dirname(path), { recursive: true });
      const exists = await stat(path).then(
        () => true,
        () => false,
      );
      if (exists) {
        await upload.abort();
      } else {
        await rename(upload.tmpPath, path);
        await fsyncDir(dirname(path));
      }
    } catch (err) {
      await upload.abort();
      throw storageError(err, 'the artifact was not stored', 'cannot store the artifact');
    }
  }

  /** Reads an artifact and checks its hash: a corrupted file is never served. */
  async readVerified(sha256: string): Promise<Buffer> {
    const path = this.pathOf(sha256);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (err) {
      throw modelLoadFailed(`artifact ${sha256} is missing from the artifact store`, err);
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw modelLoadFailed(`artifact ${sha256} is corrupted: its content hashes to ${actual}`);
    return bytes;
  }

  async localPath(sha256: string): Promise<string> {
    await this.readVerified(sha256);
    return this.pathOf(sha256);
  }

  async close(): Promise<void> {
    // Nothing held open.
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  /** Every stored hash (for garbage collection and tests). */
  async list(): Promise<string[]> {
    const root = join(this.dir, 'sha256');
    const out: string[] = [];
    for (const prefix of await readdir(root).catch(() => [] as string[])) {
      for (const f of await readdir(join(root, prefix))) if (f.endsWith('.onnx')) out.push(f.slice(0, -5));
    }
    return out.sort();
  }
}
