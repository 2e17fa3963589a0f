// Which bodies a request's audit event needs read, told from its method, target and headers alone:
// DeleteObjects (its keys and results), replies that may hide an <Error> in a 200, aws-chunked framing.
// Plain functions, called per request by server.ts when the observer captures bodies.
import type { IncomingMessage } from 'node:http';

/** CompleteMultipartUpload and CopyObject/UploadPartCopy can answer 200 with an <Error> body. */
export function mayHideError(req: IncomingMessage): boolean {
  const url = req.url ?? '';
  return req.method === 'POST' ? url.includes('?') : req.method === 'PUT' && req.headers['x-amz-copy-source'] !== undefined;
}

export function isDeleteObjects(req: IncomingMessage): boolean {
  if (req.method !== 'POST') return false;
  const q = (req.url ?? '').indexOf('?');
  return q !== -1 && /[?&]delete(?:=|&|$)/.test((req.url ?? '').slice(q));
}

/** An aws-chunked body (SigV4 streaming upload): its framing is removed before the body is read. */
export function isAwsChunked(req: IncomingMessage): boolean {
  const sha = req.headers['x-amz-content-sha256'];
  return (typeof sha === 'string' && sha.startsWith('STREAMING-')) || /aws-chunked/i.test(String(req.headers['content-encoding'] ?? ''));
}
