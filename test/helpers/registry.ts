/** A promise-returning RegistryService client over the generated one. */
import * as grpc from '@grpc/grpc-js';

import * as messages from '../../src/gen/quiver/v1/registry.js';
import {
  type CreateVersionResponse,
  type DownloadArtifactResponse,
  Lineage,
  RegistryServiceClient,
  type VersionMetadata,
} from '../../src/gen/quiver/v1/registry.js';

type Callback<T> = (err: grpc.ServiceError | null, res: T) => void;

export class Registry {
  readonly raw: RegistryServiceClient;

  constructor(address: string) {
    this.raw = new RegistryServiceClient(address, grpc.credentials.createInsecure());
  }

  /** Calls a unary method by name with a partial request. */
  call<T = Record<string, unknown>>(method: string, req: object, actor = 'tester'): Promise<T> {
    const md = new grpc.Metadata();
    md.set('quiver-actor', actor);
    const fn = (this.raw as unknown as Record<string, (r: object, m: grpc.Metadata, cb: Callback<T>) => void>)[method] as (
      r: object,
      m: grpc.Metadata,
      cb: Callback<T>,
    ) => void;
    // Fill the fields the test left out with their defaults (the generated encoders need them all).
    const type = (messages as unknown as Record<string, { fromPartial(o: object): object }>)[
      `${method[0]!.toUpperCase()}${method.slice(1)}Request`
    ];
    const full = type === undefined ? req : type.fromPartial(req);
    return new Promise((resolve, reject) => fn.call(this.raw, full, md, (err, res) => (err ? reject(err) : resolve(res))));
  }

  /** CreateVersion: metadata first, then the bytes in chunks. */
  upload(meta: Partial<VersionMetadata> & { modelName: string }, bytes: Uint8Array, chunkSize = 64 * 1024): Promise<CreateVersionResponse> {
    const md = new grpc.Metadata();
    md.set('quiver-actor', 'tester');
    return this.uploadWith(meta, bytes, md, chunkSize);
  }

  /** CreateVersion with the caller's metadata (tokens). */
  uploadWith(
    meta: Partial<VersionMetadata> & { modelName: string },
    bytes: Uint8Array,
    md: grpc.Metadata,
    chunkSize = 64 * 1024,
  ): Promise<CreateVersionResponse> {
    return new Promise((resolve, reject) => {
      const call = this.raw.createVersion(md, (err, res) => (err ? reject(err) : resolve(res)));
      call.write({
        metadata: { description: '', tags: new Map(), lineage: Lineage.fromPartial({}), expectedSha256: '', ...meta },
      });
      for (let i = 0; i < bytes.length; i += chunkSize) call.write({ chunk: Buffer.from(bytes.subarray(i, i + chunkSize)) });
      call.end();
    });
  }

  download(modelName: string, version: string): Promise<{ info: DownloadArtifactResponse['info']; bytes: Buffer }> {
    return new Promise((resolve, reject) => {
      const stream = this.raw.downloadArtifact({ modelName, version });
      let info: DownloadArtifactResponse['info'];
      const chunks: Buffer[] = [];
      stream.on('data', (m: DownloadArtifactResponse) => {
        if (m.info !== undefined) info = m.info;
        if (m.chunk !== undefined) chunks.push(m.chunk);
      });
      stream.on('error', reject);
      stream.on('end', () => resolve({ info, bytes: Buffer.concat(chunks) }));
    });
  }

  close(): void {
    this.raw.close();
  }
}
