// The audit event of an admin change (enable, disable, test): the same schema as S3 events, with
// kind "admin" and an s3ap:* API name. The admin token is never in it: auth is "anonymous" with no
// access key; auth.verified says whether the bearer token was accepted.
import type { AuditEvent, Outcome } from '../audit/event.js';
import { uuidv7 } from '../audit/uuidv7.js';

export type AdminAction = 'EnableAuditWebhook' | 'DisableAuditWebhook' | 'ConfigureAuditWebhookBatch' | 'TestAuditWebhook';

export interface AdminEventInput {
  action: AdminAction;
  requestId: string;
  startMs: number;
  startMono: number;
  method: string;
  path: string;
  host: string | null;
  userAgent: string | null;
  contentLength: number | null;
  clientIp: string;
  clientPort: number | null;
  statusCode: number;
  errorCode: string | null;
  errorMessage: string | null;
  bytesReceived: number;
  bytesSent: number;
  /** true: token accepted; false: refused or missing. */
  authorized: boolean;
  authProblem: string | null;
  hostName: string;
}

export function adminApiName(action: AdminAction): string {
  return `s3ap:${action}`;
}

export function buildAdminEvent(i: AdminEventInput): AuditEvent {
  const ok = i.statusCode >= 200 && i.statusCode < 300;
  const outcome: Outcome = ok ? 'completed' : 'rejected';
  const totalMs = Math.max(0, Math.round((performance.now() - i.startMono) * 1000) / 1000);
  return {
    version: '1',
    id: uuidv7(i.startMs),
    kind: 'admin',
    time: new Date(i.startMs).toISOString(),
    api: {
      name: adminApiName(i.action),
      bucket: null,
      object: null,
      addressing: null,
      readOnly: i.action === 'TestAuditWebhook',
      versionId: null,
      uploadId: null,
      partNumber: null,
      copySource: null,
      objects: null,
      objectsTruncated: false,
    },
    request: {
      id: i.requestId,
      method: i.method,
      path: i.path,
      query: {},
      host: i.host,
      userAgent: i.userAgent,
      contentLength: i.contentLength,
      decodedContentLength: null,
      headers: {},
    },
    response: {
      statusCode: i.statusCode,
      errorCode: i.errorCode,
      errorMessage: i.errorMessage,
      requestId: i.requestId,
      hostId: null,
      contentLength: i.bytesSent > 0 ? i.bytesSent : null,
      headers: {},
    },
    auth: {
      type: 'anonymous',
      accessKey: null,
      region: null,
      signatureVersion: null,
      signedHeaders: null,
      payloadSigning: null,
      sessionToken: false,
      verified: i.authorized,
      problem: i.authProblem,
    },
    client: { ip: i.clientIp, port: i.clientPort, peerIp: null },
    tls: null,
    bytes: { received: i.bytesReceived, sent: i.bytesSent },
    timing: { firstByteMs: totalMs, totalMs },
    outcome,
    outcomeDetail: ok ? null : i.errorCode,
    proxy: { host: i.hostName, backend: null },
  };
}
