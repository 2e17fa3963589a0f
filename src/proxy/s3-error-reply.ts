// Errors the proxy itself answers, shaped as a backend would: S3 XML, x-amz-request-id, no HTML.
import type { ServerResponse } from 'node:http';
import { armEarlyAnswer } from './early-answer.js';

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
export const escapeXml = (s: string): string => s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);

export function s3ErrorXml(code: string, message: string, resource: string, requestId: string): string {
  return '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' +
    `<Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message>` +
    `<Resource>${escapeXml(resource)}</Resource><RequestId>${escapeXml(requestId)}</RequestId></Error>`;
}

/** Write a complete S3 error reply; returns the number of body bytes written. HEAD gets no body. */
export function sendS3Error(
  res: ServerResponse, status: number, code: string, message: string, resource: string, requestId: string,
  extraHeaders: Record<string, string> = {},
): number {
  const body = res.req.method === 'HEAD' ? '' : s3ErrorXml(code, message, resource, requestId);
  const len = Buffer.byteLength(body);
  // Answered before the whole body arrived: close after the reply, discarding the rest of the body.
  armEarlyAnswer(res.req, res);
  res.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': String(len),
    'x-amz-request-id': requestId,
    ...extraHeaders,
  });
  res.end(body);
  return len;
}

/** Raw HTTP/1.1 reply for a connection whose request could not even be parsed (no ServerResponse exists). */
export function rawS3Error(status: number, reason: string, code: string, message: string, requestId: string): string {
  const body = s3ErrorXml(code, message, '', requestId);
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `x-amz-request-id: ${requestId}\r\nConnection: close\r\n\r\n${body}`;
}
