// What the proxy understands about an S3 request before it is forwarded.
// Produced by src/s3 (pure functions, no I/O), consumed by src/audit.
import type { HostRules } from './host-rules.js';

/** How the client authenticated, as seen on the wire (never verified unless auth.verified is set). */
export type AuthType =
  | 'sigv4-header'
  | 'sigv4-query'
  | 'sigv2-header'
  | 'sigv2-query'
  | 'post-policy'
  | 'anonymous';

export interface AuthInfo {
  type: AuthType;
  /** Access key id the client presented, or null. */
  accessKey: string | null;
  /** SigV4 credential scope region (e.g. "us-east-1"), or null. */
  region: string | null;
  /** "SigV4" | "SigV2" | null: the CloudTrail-style SignatureVersion. */
  signatureVersion: 'SigV4' | 'SigV2' | null;
  /** SigV4 SignedHeaders list (lower case), or null. */
  signedHeaders: string[] | null;
  /** x-amz-content-sha256 classification: "UNSIGNED-PAYLOAD", "STREAMING-...", "sha256" (a hex hash) or null. */
  payloadSigning: string | null;
  /** Request time claimed by the signature (X-Amz-Date, Date or Expires), ISO string, or null. */
  signedAt: string | null;
  /** Presigned URL lifetime in seconds (X-Amz-Expires), or null. */
  expiresInSeconds: number | null;
  /** True when an STS session token (X-Amz-Security-Token) was presented. The token itself is never kept. */
  sessionToken: boolean;
  /** Set by signature verification when enabled: true/false; null when not verified. */
  verified: boolean | null;
  /** Why the auth could not be parsed or verified, or null. Never contains secret material. */
  problem: string | null;
}

export type AddressingStyle = 'path' | 'virtual-host';

export interface CopySource {
  bucket: string;
  key: string;
  versionId: string | null;
}

export interface S3RequestInfo {
  /** AWS S3 API name (GetObject, PutObject, ...); "Unknown" only when nothing fits. */
  apiName: string;
  bucket: string | null;
  /** Decoded object key, or null. */
  object: string | null;
  addressing: AddressingStyle;
  /** True for APIs that do not change state (Get*, Head*, List*). */
  readOnly: boolean;
  versionId: string | null;
  uploadId: string | null;
  partNumber: number | null;
  copySource: CopySource | null;
  /** Problem found while decoding the target (e.g. invalid percent-encoding), or null. */
  problem: string | null;
}

/** The parts of an HTTP request the classifier and auth parser look at. */
export interface S3RequestInput {
  method: string;
  /** Raw request target as received, e.g. "/bucket/key%20a?uploads". */
  url: string;
  /** Node's lower-cased header object (IncomingMessage.headers). */
  headers: Record<string, string | string[] | undefined>;
  /** Base domains for virtual-hosted-style addressing, e.g. ["s3.example.com"]. */
  virtualHostDomains: readonly string[];
  /** The proxy's host rules (path-style names, virtual-host patterns, CNAME buckets); when set they
   * replace virtualHostDomains for reading the Host. */
  hostRules?: HostRules | null;
}
