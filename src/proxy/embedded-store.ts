// The embedded local S3 store used when no --backend is given, so `npm start` alone serves a working
// S3 endpoint. It is @20minutes/s3rver (which, unlike s3rver 3.x, verifies SigV4 signatures),
// listening on a loopback ephemeral port that only the proxy talks to.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../log.js';

const require = createRequire(import.meta.url);

/** Fixed credentials of the embedded store (s3rver's built-in account). */
export const EMBEDDED_ACCESS_KEY = 'S3RVER';
export const EMBEDDED_SECRET_KEY = 'S3RVER';

export interface EmbeddedStore {
  origin: string;
  directory: string;
  close(): Promise<void>;
}

/** The first log line when the store is in use: where to point a client, and its credentials. */
export function announceEmbeddedStore(logger: Logger, store: EmbeddedStore, endpoint: string): void {
  logger.info({
    endpoint, accessKeyId: EMBEDDED_ACCESS_KEY, secretAccessKey: EMBEDDED_SECRET_KEY,
    region: 'us-east-1', directory: store.directory,
  }, `no --backend given: serving the embedded local S3 store at ${endpoint} (access key ${EMBEDDED_ACCESS_KEY}, secret ${EMBEDDED_SECRET_KEY})`);
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/**
 * @param virtualHostDomains base domains clients use for virtual-hosted-style requests; s3rver
 *   recognises `<bucket>.s3.<serviceEndpoint>`, so "s3.example.com" becomes serviceEndpoint "example.com".
 * @param cnameBuckets --host-bucket-cname: s3rver reads an unknown Host as a bucket only then, so it
 *   reads every --path-style-host name as the proxy does.
 */
export async function startEmbeddedStore(dataDir: string, virtualHostDomains: readonly string[] = [], cnameBuckets = false): Promise<EmbeddedStore> {
  const directory = join(dataDir, 's3');
  mkdirSync(directory, { recursive: true });
  const S3rver = require('@20minutes/s3rver') as new (opts: Record<string, unknown>) => S3rverInstance;
  const domain = virtualHostDomains[0];
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    vhostBuckets: cnameBuckets,
    ...(domain ? { serviceEndpoint: domain.startsWith('s3.') ? domain.slice(3) : domain } : {}),
  });
  const addr = await server.run();
  return { origin: `http://127.0.0.1:${addr.port}`, directory, close: () => server.close() };
}
