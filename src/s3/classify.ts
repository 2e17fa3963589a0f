// Names the S3 API a request calls (AWS API reference names) from method, target level, sub-resource
// query names and two deciding headers. Runs on every proxied request: tables are built at load,
// a call only does map lookups. Never throws.
import { parseQuery, parseTarget, percentDecode, type S3Target } from './addressing.js';
import { RULES_BY_TARGET, type ApiRule, type TargetLevel } from './api-rules.js';
import type { CopySource, S3RequestInfo, S3RequestInput } from './types.js';

const PART_NUMBER = /^\d{1,9}$/;
const FORM_DATA = /^\s*multipart\/form-data/i;
// arn:<partition>:s3:::<bucket>/object/<key>: the plain-bucket ARN form (no region, no account).
const PLAIN_BUCKET_ARN = /^arn:[^:]*:s3:::([^/]+)$/;
const ARN_OBJECT = '/object/';

function firstHeader(v: string | string[] | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

/**
 * Parses x-amz-copy-source: "[/]bucket/key[?versionId=v]" (percent-encoded), or an ARN
 * "arn:aws:s3:::bucket/object/key" / "arn:...:accesspoint/name/object/key" (the access point ARN is
 * kept whole as the bucket). Null when it names no bucket and key.
 */
export function parseCopySource(value: string): CopySource | null {
  let v = value.trim();
  const q = v.indexOf('?'); // a '?' inside a key is percent-encoded, so the first raw one starts the query
  const rawPath = q === -1 ? v : v.slice(0, q);
  const rawQuery = q === -1 ? '' : v.slice(q + 1);
  v = percentDecode(rawPath, false) ?? rawPath;
  if (v.startsWith('/')) v = v.slice(1);

  let bucket: string;
  let key: string;
  if (v.startsWith('arn:')) {
    const at = v.indexOf(ARN_OBJECT);
    if (at === -1) return null;
    const prefix = v.slice(0, at);
    key = v.slice(at + ARN_OBJECT.length);
    bucket = PLAIN_BUCKET_ARN.exec(prefix)?.[1] ?? prefix;
  } else {
    const slash = v.indexOf('/');
    if (slash === -1) return null;
    bucket = v.slice(0, slash);
    key = v.slice(slash + 1);
  }
  if (bucket.length === 0 || key.length === 0) return null;
  const versionId = rawQuery.length > 0 ? parseQuery(rawQuery).query.get('versionId') : undefined;
  return { bucket, key, versionId: versionId ? versionId : null };
}

function matches(rule: ApiRule, query: Map<string, string>, copySource: boolean, formData: boolean): boolean {
  const names = rule.query;
  for (let i = 0; i < names.length; i++) if (!query.has(names[i])) return false;
  if (rule.queryValue !== null && query.get(rule.queryValue[0]) !== rule.queryValue[1]) return false;
  if (rule.header === 'copy-source' && !copySource) return false;
  if (rule.header === 'form-data' && !formData) return false;
  return true;
}

/** The first matching rule, or null (the request is "Unknown"). */
export function findRule(level: TargetLevel, method: string, query: Map<string, string>,
  headers: S3RequestInput['headers']): ApiRule | null {
  const rules = RULES_BY_TARGET.get(level)?.get(method);
  if (rules === undefined) return null;
  const copySource = firstHeader(headers['x-amz-copy-source']) !== undefined;
  const contentType = method === 'POST' ? firstHeader(headers['content-type']) : undefined;
  const formData = contentType !== undefined && FORM_DATA.test(contentType);
  for (let i = 0; i < rules.length; i++) if (matches(rules[i], query, copySource, formData)) return rules[i];
  return null;
}

const ACTION = /^[A-Z][A-Za-z0-9]{1,63}$/;

/**
 * STS and IAM on an S3 endpoint (MinIO, Ceph RGW): `POST /` with `Action=AssumeRole...` names the
 * action when it is in the query (an Action only in a form body is not read: the event says Unknown).
 */
export function stsAction(level: TargetLevel, method: string, query: Map<string, string>): string | null {
  if (level !== 'service' || method !== 'POST') return null;
  const a = query.get('Action');
  return a !== undefined && ACTION.test(a) ? a : null;
}

function nonEmpty(v: string | undefined): string | null {
  return v === undefined || v.length === 0 ? null : v;
}

/**
 * Classifies a request. Pass the parseTarget() result when you already have it, to parse once.
 */
export function classify(input: S3RequestInput, target?: S3Target): S3RequestInfo {
  try {
    const t = target ?? parseTarget(input);
    const method = typeof input.method === 'string' ? input.method : '';
    const headers = input.headers !== null && typeof input.headers === 'object' ? input.headers : {};
    const level: TargetLevel = t.bucket === null ? 'service' : t.key === null ? 'bucket' : 'object';
    const rule = findRule(level, method, t.query, headers);

    const pn = t.query.get('partNumber');
    const rawCopy = firstHeader(headers['x-amz-copy-source']);
    const copySource = rawCopy !== undefined ? parseCopySource(rawCopy) : null;
    let problem = t.problem;
    if (rawCopy !== undefined && copySource === null) {
      problem = (problem === null ? '' : problem + '; ') + 'x-amz-copy-source names no bucket and key';
    }
    return {
      apiName: rule?.api ?? stsAction(level, method, t.query) ?? 'Unknown',
      bucket: t.bucket,
      object: t.key,
      addressing: t.addressing,
      readOnly: rule?.readOnly ?? false,
      versionId: nonEmpty(t.query.get('versionId')),
      uploadId: nonEmpty(t.query.get('uploadId')),
      partNumber: pn !== undefined && PART_NUMBER.test(pn) ? Number(pn) : null,
      copySource,
      problem,
    };
  } catch {
    // Unreachable by design; a classifier bug must never take a request down.
    return {
      apiName: 'Unknown', bucket: null, object: null, addressing: 'path', readOnly: false, versionId: null,
      uploadId: null, partNumber: null, copySource: null, problem: 'internal error while classifying',
    };
  }
}
