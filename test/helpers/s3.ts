// S3 clients for tests: the real AWS SDK v3, pointed at the proxy (or directly at the backend).
import http from 'node:http';
import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { TestBackend } from './backend.js';

export function s3Client(endpoint: string, backend: TestBackend, extra: Partial<S3ClientConfig> = {}): S3Client {
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: backend.accessKeyId, secretAccessKey: backend.secretAccessKey },
    // Ceph RGW 16.2 (411) and s3rver 4 (400) refuse the checksum trailers SDK v3 sends by default
    // (REFERENCE §6); the trailer framing itself is proven byte-exact in proxy-wire.test.ts.
    ...(backend.kind !== 'external' ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    maxAttempts: 1,
    ...extra,
  });
  // s3rver 4 computes the canonical URI of "/bucket/" as "/bucket", so SDK v3's bucket-level requests
  // (which end in "/") fail its signature check even when sent to it directly. "/bucket" is the same
  // S3 resource: send that. This is the test client's business; the proxy forwards whatever it gets.
  client.middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as { path?: string };
      if (typeof req.path === 'string' && /^\/[^/]+\/$/.test(req.path)) req.path = req.path.slice(0, -1);
      return next(args);
    },
    { step: 'build', name: 'stripBucketTrailingSlash' },
  );
  return client;
}

/** A client for virtual-hosted-style requests: every host name resolves to 127.0.0.1. */
export function virtualHostClient(endpoint: string, backend: TestBackend): S3Client {
  const agent = new http.Agent({
    keepAlive: true,
    lookup: ((_host: string, options: { all?: boolean }, cb: (...a: unknown[]) => void) => {
      if (options?.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
      else cb(null, '127.0.0.1', 4);
    }) as unknown as http.AgentOptions['lookup'],
  });
  return s3Client(endpoint, backend, { forcePathStyle: false, requestHandler: new NodeHttpHandler({ httpAgent: agent }) });
}
