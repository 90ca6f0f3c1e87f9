// A real S3 server (s3rver) on 127.0.0.1 for tests, in a temp folder, with one bucket made.
// Use it path-style: endpoint + forcePathStyle, public URLs `${endpoint}/${bucket}/<key>`.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface S3Server {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  key: string;
  secret: string;
  /** Fields for SpacesConfig / AT_BLOBS_SPACES_* (path style). */
  port: number;
  directory: string;
  stop(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

export async function startS3(options: { bucket?: string; buckets?: string[] } = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'at-blobs-test';
  const directory = await mkdtemp(path.join(os.tmpdir(), 'oven-s3-'));
  // s3rver ships no types; this is the part of it used here.
  const { default: S3rver } = (await import('s3rver' as string)) as { default: new (options: object) => S3rverInstance };
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [bucket, ...(options.buckets ?? [])].map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    key: 'S3RVER',
    secret: 'S3RVER',
    port,
    directory,
    async stop() {
      await server.close().catch(() => {});
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** The AT_BLOBS_SPACES_* settings that make an oven use this server as its Space (path style). */
export function spacesEnv(s3: Pick<S3Server, 'key' | 'secret' | 'endpoint' | 'bucket'>, endpoint = s3.endpoint): Record<string, string> {
  return {
    AT_BLOBS_SPACES_KEY: s3.key,
    AT_BLOBS_SPACES_SECRET: s3.secret,
    AT_BLOBS_SPACES_ENDPOINT: endpoint,
    AT_BLOBS_SPACES_BUCKET: s3.bucket,
    AT_BLOBS_SPACES_FORCE_PATH_STYLE: 'true',
  };
}
