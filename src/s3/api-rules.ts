// The S3 REST API as a rule table: (target level, method, sub-resource query names, deciding header)
// -> AWS API reference name. Rules of one (level, method) are tried in order: specific ones first.
// Built once at module load; the classifier only looks rules up.

export type TargetLevel = 'service' | 'bucket' | 'object';
/** Headers that change the API: x-amz-copy-source (copies), multipart/form-data (browser POST). */
export type HeaderCondition = 'copy-source' | 'form-data';

export interface ApiRule {
  level: TargetLevel;
  method: string;
  api: string;
  /** Query names that must all be present (value ignored). */
  query: readonly string[];
  /** A query name that must have exactly this value (list-type=2). */
  queryValue: readonly [string, string] | null;
  header: HeaderCondition | null;
  readOnly: boolean;
}

const READ_ONLY_PREFIX = /^(?:Get|Head|List)/;
// Reads whose names do not say so.
const READ_ONLY_EXTRA = new Set(['SelectObjectContent', 'CorsPreflight']);

function rule(level: TargetLevel, method: string, api: string, query: readonly string[] = [],
  extra: { header?: HeaderCondition; queryValue?: readonly [string, string] } = {}): ApiRule {
  return {
    level, method, api, query,
    queryValue: extra.queryValue ?? null,
    header: extra.header ?? null,
    readOnly: READ_ONLY_PREFIX.test(api) || READ_ONLY_EXTRA.has(api),
  };
}

// Bucket sub-resources: [query name, GET name, PUT name, DELETE name, GET name without ?id (List form)].
type SubResource = readonly [string, string | null, string | null, string | null, string | null];
const BUCKET_SUBRESOURCES: readonly SubResource[] = [
  ['acl', 'GetBucketAcl', 'PutBucketAcl', null, null],
  ['cors', 'GetBucketCors', 'PutBucketCors', 'DeleteBucketCors', null],
  ['encryption', 'GetBucketEncryption', 'PutBucketEncryption', 'DeleteBucketEncryption', null],
  ['lifecycle', 'GetBucketLifecycleConfiguration', 'PutBucketLifecycleConfiguration', 'DeleteBucketLifecycle', null],
  ['location', 'GetBucketLocation', null, null, null],
  ['logging', 'GetBucketLogging', 'PutBucketLogging', null, null],
  ['notification', 'GetBucketNotificationConfiguration', 'PutBucketNotificationConfiguration', null, null],
  ['object-lock', 'GetObjectLockConfiguration', 'PutObjectLockConfiguration', null, null],
  ['ownershipControls', 'GetBucketOwnershipControls', 'PutBucketOwnershipControls', 'DeleteBucketOwnershipControls', null],
  ['policy', 'GetBucketPolicy', 'PutBucketPolicy', 'DeleteBucketPolicy', null],
  ['policyStatus', 'GetBucketPolicyStatus', null, null, null],
  ['publicAccessBlock', 'GetPublicAccessBlock', 'PutPublicAccessBlock', 'DeletePublicAccessBlock', null],
  ['replication', 'GetBucketReplication', 'PutBucketReplication', 'DeleteBucketReplication', null],
  ['requestPayment', 'GetBucketRequestPayment', 'PutBucketRequestPayment', null, null],
  ['tagging', 'GetBucketTagging', 'PutBucketTagging', 'DeleteBucketTagging', null],
  ['versioning', 'GetBucketVersioning', 'PutBucketVersioning', null, null],
  ['website', 'GetBucketWebsite', 'PutBucketWebsite', 'DeleteBucketWebsite', null],
  ['accelerate', 'GetBucketAccelerateConfiguration', 'PutBucketAccelerateConfiguration', null, null],
  ['analytics', 'GetBucketAnalyticsConfiguration', 'PutBucketAnalyticsConfiguration',
    'DeleteBucketAnalyticsConfiguration', 'ListBucketAnalyticsConfigurations'],
  ['inventory', 'GetBucketInventoryConfiguration', 'PutBucketInventoryConfiguration',
    'DeleteBucketInventoryConfiguration', 'ListBucketInventoryConfigurations'],
  ['metrics', 'GetBucketMetricsConfiguration', 'PutBucketMetricsConfiguration',
    'DeleteBucketMetricsConfiguration', 'ListBucketMetricsConfigurations'],
  ['intelligent-tiering', 'GetBucketIntelligentTieringConfiguration', 'PutBucketIntelligentTieringConfiguration',
    'DeleteBucketIntelligentTieringConfiguration', 'ListBucketIntelligentTieringConfigurations'],
  // S3 Metadata tables (2025): created by POST, so only GET/DELETE here; POST is listed below.
  ['metadataTable', 'GetBucketMetadataTableConfiguration', null, 'DeleteBucketMetadataTableConfiguration', null],
];

function buildRules(): ApiRule[] {
  const r: ApiRule[] = [];
  // Service level.
  r.push(rule('service', 'GET', 'ListBuckets'));
  // CORS preflight (S3's "OPTIONS object"; server access logs call it REST.OPTIONS.PREFLIGHT): a read.
  for (const level of ['service', 'bucket', 'object'] as const) r.push(rule(level, 'OPTIONS', 'CorsPreflight'));

  // Bucket level: sub-resources first, then the bare-bucket defaults.
  for (const [name, get, put, del, list] of BUCKET_SUBRESOURCES) {
    if (get !== null && list !== null) {
      r.push(rule('bucket', 'GET', get, [name, 'id']));
      r.push(rule('bucket', 'GET', list, [name]));
    } else if (get !== null) {
      r.push(rule('bucket', 'GET', get, [name]));
    }
    if (put !== null) r.push(rule('bucket', 'PUT', put, [name]));
    if (del !== null) r.push(rule('bucket', 'DELETE', del, [name]));
  }
  r.push(rule('bucket', 'GET', 'ListObjectVersions', ['versions']));
  r.push(rule('bucket', 'GET', 'ListMultipartUploads', ['uploads']));
  r.push(rule('bucket', 'GET', 'CreateSession', ['session'])); // S3 Express directory buckets
  r.push(rule('bucket', 'GET', 'ListObjectsV2', [], { queryValue: ['list-type', '2'] }));
  r.push(rule('bucket', 'GET', 'ListObjects'));
  r.push(rule('bucket', 'HEAD', 'HeadBucket'));
  r.push(rule('bucket', 'PUT', 'CreateBucket'));
  r.push(rule('bucket', 'DELETE', 'DeleteBucket'));
  r.push(rule('bucket', 'POST', 'DeleteObjects', ['delete']));
  r.push(rule('bucket', 'POST', 'CreateBucketMetadataTableConfiguration', ['metadataTable']));
  r.push(rule('bucket', 'POST', 'PostObject', [], { header: 'form-data' }));

  // Object level.
  r.push(rule('object', 'GET', 'ListParts', ['uploadId']));
  r.push(rule('object', 'GET', 'GetObjectAcl', ['acl']));
  r.push(rule('object', 'GET', 'GetObjectTagging', ['tagging']));
  r.push(rule('object', 'GET', 'GetObjectRetention', ['retention']));
  r.push(rule('object', 'GET', 'GetObjectLegalHold', ['legal-hold']));
  r.push(rule('object', 'GET', 'GetObjectAttributes', ['attributes']));
  r.push(rule('object', 'GET', 'GetObjectTorrent', ['torrent']));
  r.push(rule('object', 'GET', 'GetObject'));
  r.push(rule('object', 'HEAD', 'HeadObject'));
  r.push(rule('object', 'PUT', 'UploadPartCopy', ['partNumber', 'uploadId'], { header: 'copy-source' }));
  r.push(rule('object', 'PUT', 'UploadPart', ['partNumber', 'uploadId']));
  r.push(rule('object', 'PUT', 'PutObjectAcl', ['acl']));
  r.push(rule('object', 'PUT', 'PutObjectTagging', ['tagging']));
  r.push(rule('object', 'PUT', 'PutObjectRetention', ['retention']));
  r.push(rule('object', 'PUT', 'PutObjectLegalHold', ['legal-hold']));
  r.push(rule('object', 'PUT', 'RenameObject', ['renameObject'])); // S3 Express (2025), x-amz-rename-source
  r.push(rule('object', 'PUT', 'CopyObject', [], { header: 'copy-source' }));
  r.push(rule('object', 'PUT', 'PutObject'));
  r.push(rule('object', 'DELETE', 'AbortMultipartUpload', ['uploadId']));
  r.push(rule('object', 'DELETE', 'DeleteObjectTagging', ['tagging']));
  r.push(rule('object', 'DELETE', 'DeleteObject'));
  r.push(rule('object', 'POST', 'CreateMultipartUpload', ['uploads']));
  r.push(rule('object', 'POST', 'CompleteMultipartUpload', ['uploadId']));
  r.push(rule('object', 'POST', 'RestoreObject', ['restore']));
  r.push(rule('object', 'POST', 'SelectObjectContent', ['select']));
  return r;
}

/** Every rule, in matching order (exported for tests and documentation). */
export const API_RULES: readonly ApiRule[] = Object.freeze(buildRules());

/** Rules by level, then method, in matching order (nested maps: no key string built per request). */
export const RULES_BY_TARGET: ReadonlyMap<TargetLevel, ReadonlyMap<string, readonly ApiRule[]>> = (() => {
  const m = new Map<TargetLevel, Map<string, ApiRule[]>>();
  for (const r of API_RULES) {
    let byMethod = m.get(r.level);
    if (byMethod === undefined) m.set(r.level, (byMethod = new Map()));
    let list = byMethod.get(r.method);
    if (list === undefined) byMethod.set(r.method, (list = []));
    list.push(r);
  }
  return m;
})();

/** Level of the target each API name addresses (for bodiless error codes); undefined for unknown names. */
export const API_LEVEL: ReadonlyMap<string, TargetLevel> = new Map(API_RULES.map((r) => [r.api, r.level]));
