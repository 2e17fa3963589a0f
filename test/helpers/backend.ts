// The S3 backend a test talks to: a real @20minutes/s3rver on 127.0.0.1 (it verifies SigV4), or the
// server named by S3AP_TEST_BACKEND_URL (the Ceph RGW tier sets it).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

export interface TestBackend {
  url: string;
  accessKeyId: string;
  secretAccessKey: string;
  kind: 's3rver' | 'ceph' | 'external';
  /** s3rver only: its data directory (what it stored is visible there). */
  directory?: string;
  close(): Promise<void>;
}

export async function startBackend(opts: { serviceEndpoint?: string } = {}): Promise<TestBackend> {
  const external = process.env['S3AP_TEST_BACKEND_URL'];
  if (external) {
    return {
      url: external.replace(/\/$/, ''),
      accessKeyId: process.env['S3AP_TEST_ACCESS_KEY'] ?? '',
      secretAccessKey: process.env['S3AP_TEST_SECRET_KEY'] ?? '',
      kind: process.env['S3AP_TEST_BACKEND_KIND'] === 'ceph' ? 'ceph' : 'external',
      close: async () => {},
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 's3ap-s3rver-'));
  const S3rver = require('@20minutes/s3rver') as new (o: Record<string, unknown>) => {
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
    httpServer?: { closeAllConnections(): void };
  };
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, ...(opts.serviceEndpoint ? { serviceEndpoint: opts.serviceEndpoint } : {}) });
  const addr = await server.run();
  return {
    url: `http://127.0.0.1:${addr.port}`,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    kind: 's3rver',
    directory: dir,
    async close() {
      // Connections still open (a proxy replica polling its cluster store, say) must not hold the
      // close: it would wait for them, and the hook that stops that proxy may run only after this one.
      const closing = server.close().catch(() => {});
      server.httpServer?.closeAllConnections();
      await closing;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Unique, valid bucket names so tests never collide (also against a shared Ceph). */
let n = 0;
export function bucketName(prefix = 'b'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${(n++).toString(36)}`.toLowerCase();
}
