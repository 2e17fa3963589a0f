// The audit event: the product's main output. Schema version "1", written down in
// schema/audit-event.v1.json (keep both in step; a test validates events against the file).
import type { AuthType, CopySource, AddressingStyle } from '../s3/types.js';

export type Outcome =
  /** The exchange finished: the client got the whole response, whatever its status. */
  | 'completed'
  /** The client went away before the response was complete. */
  | 'client-aborted'
  /** The client stopped reading the response (--client-send-timeout) or sending the request body
   * (--client-body-timeout): the proxy closed the connection and freed its backend request. */
  | 'client-stalled'
  /** The backend failed after it started answering (reset, timeout mid-body, invalid reply). */
  | 'backend-error'
  /** The backend could not be reached or did not answer in time; the proxy answered 503/504. */
  | 'backend-unreachable'
  /** The proxy refused the request itself (malformed request, signature check failed). */
  | 'rejected';

export interface DeleteObjectsEntry {
  key: string;
  versionId: string | null;
  /** Per-key result from the backend's reply; "unknown" when the reply could not be read. */
  result: 'deleted' | 'error' | 'unknown';
  errorCode: string | null;
}

export interface AuditEvent {
  version: '1';
  /** UUIDv7, unique per event: receivers de-duplicate on it. */
  id: string;
  /** 1, 2, 3, ... per `proxy.instance`, in the order events are handed to the dispatcher (set when
   * the event is handed over: src/audit/sequence.ts). Optional: added in a later release of version 1. */
  sequence?: number;
  /** "s3" for S3 traffic; "admin" for changes made through the admin API. */
  kind: 's3' | 'admin';
  /** Request start, RFC 3339 UTC with milliseconds. */
  time: string;
  api: {
    name: string;
    bucket: string | null;
    object: string | null;
    addressing: AddressingStyle | null;
    readOnly: boolean;
    versionId: string | null;
    uploadId: string | null;
    partNumber: number | null;
    copySource: CopySource | null;
    /** DeleteObjects only: the keys asked for, with their per-key result. */
    objects: DeleteObjectsEntry[] | null;
    /** DeleteObjects only: true when the request listed more than 1000 objects (S3 refuses such a
     * request as a whole; the first 1000 are listed). */
    objectsTruncated: boolean;
    /** Why the target could not be read exactly (the request was refused, or forwarded with the raw
     * text kept), or null. Optional: added in a later release of schema version 1. */
    problem?: string | null;
    /** DeleteObjects only (absent otherwise): entries left out of `objects` because the proxy-wide
     * capture memory bound was reached. */
    objectsSkipped?: number;
  };
  request: {
    /** Proxy-assigned request id. */
    id: string;
    method: string;
    /** Path as received (percent-encoded), without the query string. */
    path: string;
    /** Query parameters with every credential or signature value replaced by "REDACTED". */
    query: Record<string, string>;
    host: string | null;
    userAgent: string | null;
    /** Declared Content-Length, or null (chunked or none). */
    contentLength: number | null;
    /** x-amz-decoded-content-length for aws-chunked uploads, or null. */
    decodedContentLength: number | null;
    /** Only the headers on the configured allow-list (never secrets). */
    headers: Record<string, string>;
  };
  response: {
    statusCode: number;
    errorCode: string | null;
    errorMessage: string | null;
    /** Backend's x-amz-request-id (or the proxy's id when the proxy answered). */
    requestId: string | null;
    /** Backend's x-amz-id-2. */
    hostId: string | null;
    contentLength: number | null;
    headers: Record<string, string>;
  };
  auth: {
    type: AuthType;
    accessKey: string | null;
    region: string | null;
    signatureVersion: 'SigV4' | 'SigV2' | null;
    signedHeaders: string[] | null;
    payloadSigning: string | null;
    sessionToken: boolean;
    /** true/false when signatures are verified (--credentials-file), else null. */
    verified: boolean | null;
    problem: string | null;
  };
  client: {
    /** Client address: the socket peer, or the forwarded address when the peer is a trusted proxy. */
    ip: string;
    port: number | null;
    /** The socket peer when it differs from client.ip (a trusted proxy), else null. */
    peerIp: string | null;
  };
  /** TLS details when the S3 listener serves HTTPS, else null. */
  tls: { version: string | null; cipher: string | null } | null;
  bytes: {
    /** Body bytes actually read from the client. */
    received: number;
    /** Body bytes actually written to the client. */
    sent: number;
  };
  timing: {
    /** Request start to the first response byte (headers) written to the client; null if none was. */
    firstByteMs: number | null;
    /** Request start to the last response byte (or the abort). */
    totalMs: number;
  };
  outcome: Outcome;
  /** Proxy-side detail for outcomes other than "completed" (e.g. "ECONNREFUSED"), else null. */
  outcomeDetail: string | null;
  proxy: {
    /** Host name of the proxy that served the request. */
    host: string;
    /** Backend origin the request was forwarded to, or null when it was not. */
    backend: string | null;
    /** The process (or --workers worker) that numbered the event: a UUIDv7 made at its start. */
    instance?: string;
  };
}
