/** `s3://bucket/prefix` locations (kept apart from the S3 store so config checks need no SDK). */
import { invalidConfig } from '../core/errors.js';

export interface S3Location {
  readonly bucket: string;
  /** Key prefix without leading or trailing slashes ('' for the bucket root). */
  readonly prefix: string;
}

/** Parses `s3://bucket[/prefix]`. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (m === null)
    throw invalidConfig(`option artifactUrl must be s3://bucket[/prefix] with a valid bucket name, got ${JSON.stringify(url)}`);
  return { bucket: m[1]!, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}
