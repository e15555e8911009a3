/**
 * Artifacts in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...), selected with
 * `artifactUrl: s3://bucket/prefix`. Objects are keyed by content hash
 * (`<prefix>/sha256/<aa>/<sha256>.onnx`), written once with a single PutObject (atomic in S3:
 * a reader never sees half an object), and every read is verified against the hash, so a
 * damaged or swapped object is never served. Credentials and region come from the AWS SDK's
 * default chain (AWS_ACCESS_KEY_ID, AWS_REGION, instance roles, ...).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';

import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

import { modelLoadFailed, storageFailed } from '../core/errors.js';
import { type ArtifactBackend, ArtifactStore, type ArtifactUpload, cachedLocalPath } from './artifacts.js';
import { parseS3Url, type S3Location } from './s3-url.js';

export interface S3ArtifactOptions {
  readonly url: string;
  /** Endpoint of an S3-compatible service ('' = AWS, or AWS_ENDPOINT_URL). */
  readonly endpoint: string;
  /** Path-style addressing (http://host/bucket/key), which MinIO and most non-AWS stores need. */
  readonly forcePathStyle: boolean;
}

export class S3ArtifactStore implements ArtifactBackend {
  private readonly local: ArtifactStore;
  private readonly client: S3Client;
  private readonly where: S3Location;

  constructor(options: S3ArtifactOptions, localDir: string, maxBytes: number) {
    this.where = parseS3Url(options.url);
    this.local = new ArtifactStore(join(localDir, 'cache'), maxBytes);
    this.client = new S3Client({
      ...(options.endpoint === '' ? {} : { endpoint: options.endpoint }),
      forcePathStyle: options.forcePathStyle,
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      // Quiver checks every artifact against its SHA-256 itself; the SDK's default CRC trailers
      // (aws-chunked uploads) are not understood by many S3-compatible stores.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  keyOf(sha256: string): string {
    const rel = `sha256/${sha256.slice(0, 2)}/${sha256}.onnx`;
    return this.where.prefix === '' ? rel : `${this.where.prefix}/${rel}`;
  }

  open(): Promise<void> {
    return this.local.open();
  }

  begin(): Promise<ArtifactUpload> {
    return this.local.begin();
  }

  async commit(upload: ArtifactUpload, sha256: string): Promise<void> {
    try {
      if (!(await this.exists(sha256))) {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.where.bucket,
            Key: this.keyOf(sha256),
            Body: createReadStream(upload.tmpPath),
            ContentLength: upload.size,
            ContentType: 'application/octet-stream',
          }),
        );
      }
    } catch (err) {
      throw storageFailed(`cannot store the artifact in s3://${this.where.bucket}`, err);
    } finally {
      await upload.abort();
    }
  }

  private async exists(sha256: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.where.bucket, Key: this.keyOf(sha256) }));
      return true;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
      throw err;
    }
  }

  async readVerified(sha256: string): Promise<Buffer> {
    let bytes: Buffer;
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.where.bucket, Key: this.keyOf(sha256) }));
      bytes = Buffer.from(await res.Body!.transformToByteArray());
    } catch (err) {
      throw modelLoadFailed(`artifact ${sha256} cannot be read from s3://${this.where.bucket}`, err);
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== sha256) throw modelLoadFailed(`artifact ${sha256} is corrupted: its content hashes to ${actual}`);
    return bytes;
  }

  localPath(sha256: string): Promise<string> {
    return cachedLocalPath(this.local, sha256, () => this.readVerified(sha256));
  }

  async remove(sha256: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.where.bucket, Key: this.keyOf(sha256) }));
    await this.local.remove(sha256);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
