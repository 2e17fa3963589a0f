import type { S3RequestInput } from '../../src/s3/index.js';

// The S3 API rule table as request cases: shared by the classifier's unit tests and the
// end-to-end audit test that drives every rule through the running proxy.

export const DOMAIN = 's3.example.com';
export const BUCKET = 'my.bucket-1';
export const KEY = 'dir/sub/a b+ü!.txt';
export const ENCODED_KEY = KEY.split('/').map(encodeURIComponent).join('/');

export type Level = 'service' | 'bucket' | 'object';
export interface Case {
  m: string;
  t: Level;
  q?: string;
  h?: Record<string, string>;
  api: string;
  /** Extra expectations on the result. */
  x?: Record<string, unknown>;
}

export const CASES: Case[] = [
  // Service
  { m: 'GET', t: 'service', api: 'ListBuckets' },
  // Bucket: bare
  { m: 'GET', t: 'bucket', api: 'ListObjects' },
  { m: 'GET', t: 'bucket', q: 'list-type=2&prefix=a%2Fb&delimiter=%2F', api: 'ListObjectsV2' },
  { m: 'GET', t: 'bucket', q: 'list-type=1', api: 'ListObjects' },
  { m: 'GET', t: 'bucket', q: 'versions&prefix=x', api: 'ListObjectVersions' },
  { m: 'GET', t: 'bucket', q: 'uploads', api: 'ListMultipartUploads' },
  { m: 'GET', t: 'bucket', q: 'session', api: 'CreateSession', x: { readOnly: false } },
  { m: 'HEAD', t: 'bucket', api: 'HeadBucket' },
  { m: 'PUT', t: 'bucket', api: 'CreateBucket' },
  { m: 'DELETE', t: 'bucket', api: 'DeleteBucket' },
  { m: 'POST', t: 'bucket', q: 'delete', api: 'DeleteObjects' },
  { m: 'POST', t: 'bucket', q: 'delete=', h: { 'content-type': 'application/xml' }, api: 'DeleteObjects' },
  { m: 'POST', t: 'bucket', h: { 'content-type': 'multipart/form-data; boundary=xyz' }, api: 'PostObject', x: { readOnly: false } },
  { m: 'POST', t: 'bucket', q: 'metadataTable', api: 'CreateBucketMetadataTableConfiguration' },
  // Bucket sub-resources
  { m: 'GET', t: 'bucket', q: 'acl', api: 'GetBucketAcl' },
  { m: 'PUT', t: 'bucket', q: 'acl', api: 'PutBucketAcl' },
  { m: 'GET', t: 'bucket', q: 'cors', api: 'GetBucketCors' },
  { m: 'PUT', t: 'bucket', q: 'cors', api: 'PutBucketCors' },
  { m: 'DELETE', t: 'bucket', q: 'cors', api: 'DeleteBucketCors' },
  { m: 'GET', t: 'bucket', q: 'encryption', api: 'GetBucketEncryption' },
  { m: 'PUT', t: 'bucket', q: 'encryption', api: 'PutBucketEncryption' },
  { m: 'DELETE', t: 'bucket', q: 'encryption', api: 'DeleteBucketEncryption' },
  { m: 'GET', t: 'bucket', q: 'lifecycle', api: 'GetBucketLifecycleConfiguration' },
  { m: 'PUT', t: 'bucket', q: 'lifecycle', api: 'PutBucketLifecycleConfiguration' },
  { m: 'DELETE', t: 'bucket', q: 'lifecycle', api: 'DeleteBucketLifecycle' },
  { m: 'GET', t: 'bucket', q: 'location', api: 'GetBucketLocation' },
  { m: 'GET', t: 'bucket', q: 'logging', api: 'GetBucketLogging' },
  { m: 'PUT', t: 'bucket', q: 'logging', api: 'PutBucketLogging' },
  { m: 'GET', t: 'bucket', q: 'notification', api: 'GetBucketNotificationConfiguration' },
  { m: 'PUT', t: 'bucket', q: 'notification', api: 'PutBucketNotificationConfiguration' },
  { m: 'GET', t: 'bucket', q: 'object-lock', api: 'GetObjectLockConfiguration' },
  { m: 'PUT', t: 'bucket', q: 'object-lock', api: 'PutObjectLockConfiguration' },
  { m: 'GET', t: 'bucket', q: 'ownershipControls', api: 'GetBucketOwnershipControls' },
  { m: 'PUT', t: 'bucket', q: 'ownershipControls', api: 'PutBucketOwnershipControls' },
  { m: 'DELETE', t: 'bucket', q: 'ownershipControls', api: 'DeleteBucketOwnershipControls' },
  { m: 'GET', t: 'bucket', q: 'policy', api: 'GetBucketPolicy' },
  { m: 'PUT', t: 'bucket', q: 'policy', api: 'PutBucketPolicy' },
  { m: 'DELETE', t: 'bucket', q: 'policy', api: 'DeleteBucketPolicy' },
  { m: 'GET', t: 'bucket', q: 'policyStatus', api: 'GetBucketPolicyStatus' },
  { m: 'GET', t: 'bucket', q: 'publicAccessBlock', api: 'GetPublicAccessBlock' },
  { m: 'PUT', t: 'bucket', q: 'publicAccessBlock', api: 'PutPublicAccessBlock' },
  { m: 'DELETE', t: 'bucket', q: 'publicAccessBlock', api: 'DeletePublicAccessBlock' },
  { m: 'GET', t: 'bucket', q: 'replication', api: 'GetBucketReplication' },
  { m: 'PUT', t: 'bucket', q: 'replication', api: 'PutBucketReplication' },
  { m: 'DELETE', t: 'bucket', q: 'replication', api: 'DeleteBucketReplication' },
  { m: 'GET', t: 'bucket', q: 'requestPayment', api: 'GetBucketRequestPayment' },
  { m: 'PUT', t: 'bucket', q: 'requestPayment', api: 'PutBucketRequestPayment' },
  { m: 'GET', t: 'bucket', q: 'tagging', api: 'GetBucketTagging' },
  { m: 'PUT', t: 'bucket', q: 'tagging', api: 'PutBucketTagging' },
  { m: 'DELETE', t: 'bucket', q: 'tagging', api: 'DeleteBucketTagging' },
  { m: 'GET', t: 'bucket', q: 'versioning', api: 'GetBucketVersioning' },
  { m: 'PUT', t: 'bucket', q: 'versioning', api: 'PutBucketVersioning' },
  { m: 'GET', t: 'bucket', q: 'website', api: 'GetBucketWebsite' },
  { m: 'PUT', t: 'bucket', q: 'website', api: 'PutBucketWebsite' },
  { m: 'DELETE', t: 'bucket', q: 'website', api: 'DeleteBucketWebsite' },
  { m: 'GET', t: 'bucket', q: 'accelerate', api: 'GetBucketAccelerateConfiguration' },
  { m: 'PUT', t: 'bucket', q: 'accelerate', api: 'PutBucketAccelerateConfiguration' },
  { m: 'GET', t: 'bucket', q: 'analytics&id=a1', api: 'GetBucketAnalyticsConfiguration' },
  { m: 'GET', t: 'bucket', q: 'analytics', api: 'ListBucketAnalyticsConfigurations' },
  { m: 'PUT', t: 'bucket', q: 'analytics&id=a1', api: 'PutBucketAnalyticsConfiguration' },
  { m: 'DELETE', t: 'bucket', q: 'analytics&id=a1', api: 'DeleteBucketAnalyticsConfiguration' },
  { m: 'GET', t: 'bucket', q: 'inventory&id=i1', api: 'GetBucketInventoryConfiguration' },
  { m: 'GET', t: 'bucket', q: 'inventory&continuation-token=t', api: 'ListBucketInventoryConfigurations' },
  { m: 'PUT', t: 'bucket', q: 'inventory&id=i1', api: 'PutBucketInventoryConfiguration' },
  { m: 'DELETE', t: 'bucket', q: 'inventory&id=i1', api: 'DeleteBucketInventoryConfiguration' },
  { m: 'GET', t: 'bucket', q: 'metrics&id=m1', api: 'GetBucketMetricsConfiguration' },
  { m: 'GET', t: 'bucket', q: 'metrics', api: 'ListBucketMetricsConfigurations' },
  { m: 'PUT', t: 'bucket', q: 'metrics&id=m1', api: 'PutBucketMetricsConfiguration' },
  { m: 'DELETE', t: 'bucket', q: 'metrics&id=m1', api: 'DeleteBucketMetricsConfiguration' },
  { m: 'GET', t: 'bucket', q: 'intelligent-tiering&id=t1', api: 'GetBucketIntelligentTieringConfiguration' },
  { m: 'GET', t: 'bucket', q: 'intelligent-tiering', api: 'ListBucketIntelligentTieringConfigurations' },
  { m: 'PUT', t: 'bucket', q: 'intelligent-tiering&id=t1', api: 'PutBucketIntelligentTieringConfiguration' },
  { m: 'DELETE', t: 'bucket', q: 'intelligent-tiering&id=t1', api: 'DeleteBucketIntelligentTieringConfiguration' },
  { m: 'GET', t: 'bucket', q: 'metadataTable', api: 'GetBucketMetadataTableConfiguration' },
  { m: 'DELETE', t: 'bucket', q: 'metadataTable', api: 'DeleteBucketMetadataTableConfiguration' },
  // Object
  { m: 'GET', t: 'object', api: 'GetObject' },
  { m: 'GET', t: 'object', q: 'versionId=v%2B1&partNumber=3&response-content-type=text%2Fplain', api: 'GetObject',
    x: { versionId: 'v+1', partNumber: 3 } },
  { m: 'HEAD', t: 'object', q: 'versionId=null', api: 'HeadObject', x: { versionId: 'null' } },
  { m: 'PUT', t: 'object', api: 'PutObject', x: { readOnly: false } },
  { m: 'PUT', t: 'object', h: { 'x-amz-copy-source': '/src-bucket/a%20b/c%3Fd.txt?versionId=abc' }, api: 'CopyObject',
    x: { copySource: { bucket: 'src-bucket', key: 'a b/c?d.txt', versionId: 'abc' } } },
  { m: 'DELETE', t: 'object', q: 'versionId=v2', api: 'DeleteObject', x: { versionId: 'v2' } },
  { m: 'POST', t: 'object', q: 'uploads', api: 'CreateMultipartUpload' },
  { m: 'PUT', t: 'object', q: 'partNumber=7&uploadId=u-1', api: 'UploadPart', x: { partNumber: 7, uploadId: 'u-1' } },
  { m: 'PUT', t: 'object', q: 'uploadId=u-1&partNumber=2', h: { 'x-amz-copy-source': 'src/k' }, api: 'UploadPartCopy',
    x: { partNumber: 2, uploadId: 'u-1', copySource: { bucket: 'src', key: 'k', versionId: null } } },
  { m: 'POST', t: 'object', q: 'uploadId=u-1', api: 'CompleteMultipartUpload', x: { uploadId: 'u-1' } },
  { m: 'DELETE', t: 'object', q: 'uploadId=u-1', api: 'AbortMultipartUpload', x: { uploadId: 'u-1' } },
  { m: 'GET', t: 'object', q: 'uploadId=u-1&max-parts=10', api: 'ListParts', x: { uploadId: 'u-1' } },
  { m: 'GET', t: 'object', q: 'acl', api: 'GetObjectAcl' },
  { m: 'PUT', t: 'object', q: 'acl', api: 'PutObjectAcl' },
  { m: 'GET', t: 'object', q: 'tagging&versionId=v3', api: 'GetObjectTagging', x: { versionId: 'v3' } },
  { m: 'PUT', t: 'object', q: 'tagging', api: 'PutObjectTagging' },
  { m: 'DELETE', t: 'object', q: 'tagging', api: 'DeleteObjectTagging' },
  { m: 'GET', t: 'object', q: 'retention', api: 'GetObjectRetention' },
  { m: 'PUT', t: 'object', q: 'retention', api: 'PutObjectRetention' },
  { m: 'GET', t: 'object', q: 'legal-hold', api: 'GetObjectLegalHold' },
  { m: 'PUT', t: 'object', q: 'legal-hold', api: 'PutObjectLegalHold' },
  { m: 'PUT', t: 'object', q: 'renameObject', h: { 'x-amz-rename-source': '/my.bucket-1/old' }, api: 'RenameObject' },
  { m: 'POST', t: 'object', q: 'restore', api: 'RestoreObject', x: { readOnly: false } },
  { m: 'POST', t: 'object', q: 'select&select-type=2', api: 'SelectObjectContent', x: { readOnly: true } },
  { m: 'GET', t: 'object', q: 'attributes', api: 'GetObjectAttributes' },
  { m: 'GET', t: 'object', q: 'torrent', api: 'GetObjectTorrent' },
  { m: 'OPTIONS', t: 'service', api: 'CorsPreflight', x: { readOnly: true } },
  { m: 'OPTIONS', t: 'bucket', api: 'CorsPreflight', x: { readOnly: true } },
  { m: 'OPTIONS', t: 'object', api: 'CorsPreflight', x: { readOnly: true } },
  // Nothing fits
  { m: 'PATCH', t: 'object', api: 'Unknown', x: { readOnly: false } },
  { m: 'POST', t: 'object', api: 'Unknown' },
  { m: 'PUT', t: 'service', api: 'Unknown' },
  { m: 'TRACE', t: 'bucket', api: 'Unknown' },
  { m: 'get', t: 'object', api: 'Unknown' },
];

/** The case as a path-style and a virtual-hosted-style request (host DOMAIN). */
export function caseRequests(c: Case): { style: string; input: S3RequestInput }[] {
  const qs = c.q !== undefined ? `?${c.q}` : '';
  const headers = { ...(c.h ?? {}) };
  const suffix = c.t === 'object' ? `/${ENCODED_KEY}` : c.t === 'bucket' ? '' : '';
  const pathStyle = c.t === 'service' ? `/${qs}` : `/${BUCKET}${suffix}${qs}`;
  const vhost = c.t === 'service' ? `/${qs}` : `${suffix === '' ? '/' : suffix}${qs}`;
  return [
    { style: 'path', input: { method: c.m, url: pathStyle, headers: { ...headers, host: `${DOMAIN}:9000` }, virtualHostDomains: [DOMAIN] } },
    { style: 'virtual-host', input: { method: c.m, url: vhost,
      headers: { ...headers, host: c.t === 'service' ? DOMAIN : `${BUCKET}.S3.Example.COM:9000` }, virtualHostDomains: [DOMAIN] } },
  ];
}

