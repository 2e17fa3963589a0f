// One reading of a request, shared with the backend, or a refusal. Before anything is forwarded the
// proxy decides bucket, key and addressing the way the backend will; where S3 servers read the same
// bytes differently (an unknown Host, dot segments, a raw '#', backslashes, an absolute-form target
// naming another host) it refuses the request with the S3 error a backend would give, so an audit
// event can never name one object while the backend acts on another. Pure: no I/O, never throws.
import { hostName, percentDecode } from './addressing.js';
import type { HostRules } from './host-rules.js';

export interface InterpretPolicy {
  hostRules: HostRules;
  /** Forward dot segments, empty segments, a raw '#' and backslashes as literal key characters. */
  literalPaths: boolean;
}

export interface Refusal {
  status: number;
  code: string;
  message: string;
  /** Why, for the event's api.problem (never contains userinfo). */
  reason: string;
}

export interface Interpretation {
  /** The target to forward (absolute-form rewritten to origin-form; userinfo removed). */
  url: string;
  /** Null when the request may be forwarded. */
  refusal: Refusal | null;
}

/** A '%' not followed by two hex digits. */
const INVALID_PERCENT = /%(?![0-9A-Fa-f]{2})/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** Host header syntax the proxy can read the same way every backend does. */
const HOST_SYNTAX = /^(?:[a-z0-9_-]+(?:\.[a-z0-9_-]+)*|\[[0-9a-f:.]+\])(?::\d{0,5})?$/i;
const UPPER = /[A-Z]/;
/** Bucket names as S3 servers accept them in a path (AWS legacy and Ceph relaxed names included). */
const PATH_BUCKET = /^[A-Za-z0-9._-]+$/;

const OPTIONS_HINT = 'set --path-style-host, --virtual-host-domain or --host-bucket-cname on the proxy';
const LITERAL_HINT = 'S3 servers read it differently; the proxy forwards it only with --literal-paths';

function refuse(url: string, status: number, code: string, message: string, reason: string): Interpretation {
  return { url, refusal: { status, code, message, reason } };
}
const badUri = (url: string, reason: string, hint = LITERAL_HINT): Interpretation =>
  refuse(url, 400, 'InvalidURI', `Couldn't parse the specified URI: ${reason}; ${hint}.`, reason);
const badRequest = (url: string, reason: string, hint = OPTIONS_HINT): Interpretation =>
  refuse(url, 400, 'InvalidRequest', `${reason}; ${hint}.`, reason);

/** "host:port" with the scheme's default port made explicit, for comparing an authority and a Host. */
function hostPort(value: string, defaultPort: string): string {
  const v = value.toLowerCase();
  const close = v.startsWith('[') ? v.indexOf(']') : -1;
  const colon = v.indexOf(':', close === -1 ? 0 : close);
  if (colon === -1) return `${v}:${defaultPort}`;
  const port = v.slice(colon + 1);
  return `${v.slice(0, colon)}:${port === '' ? defaultPort : port}`;
}

function hostHeaders(rawHeaders: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') out.push(rawHeaders[i + 1] ?? '');
  }
  return out;
}

/** Why a decoded key (or a path-style remainder) is read differently by S3 servers, or null. */
function keyProblem(key: string): string | null {
  if (key.includes('\\')) return 'the path has a backslash';
  const segs = key.split('/');
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s === '.' || s === '..') return `the path has a "${s}" segment`;
    if (s.length === 0 && i < segs.length - 1) return 'the path has an empty segment ("//")';
  }
  return null;
}

/**
 * Decide how the request reads, or refuse it.
 * @param rawHeaders the request's raw header list (a repeated Host is refused)
 */
export function interpretRequest(url: string, rawHeaders: readonly string[], policy: InterpretPolicy): Interpretation {
  let target = url;
  const hosts = hostHeaders(rawHeaders);
  const host = hosts[0];

  // Absolute-form (RFC 9112 3.2.2): rewritten to origin-form when it names the Host's own authority.
  const scheme = SCHEME.exec(target);
  if (scheme !== null) {
    const start = scheme[0].length;
    let end = target.length;
    for (const c of ['/', '?', '#']) {
      const i = target.indexOf(c, start);
      if (i !== -1 && i < end) end = i;
    }
    const authority = target.slice(start, end);
    let rest = target.slice(end);
    if (!rest.startsWith('/')) rest = '/' + rest;
    const proto = scheme[1]!.toLowerCase();
    if (authority.includes('@')) {
      // Never repeated anywhere: the request is recorded with its origin-form target only.
      return badUri(rest, 'the request target carries userinfo (user:password@)', 'send credentials in the Authorization header');
    }
    if (hosts.length > 1) return badRequest(rest, 'The request has more than one Host header', 'send exactly one');
    if (proto !== 'http' && proto !== 'https') return badUri(rest, `the request target has scheme "${proto}"`, 'send an origin-form target');
    const def = proto === 'https' ? '443' : '80';
    if (host === undefined || hostPort(authority, def) !== hostPort(host, def)) {
      return badRequest(rest, `The request target names host "${hostName(authority)}" but the Host header ${host === undefined ? 'is missing' : `names "${hostName(host)}"`}`,
        'send an origin-form target, or a Host that agrees with it');
    }
    target = rest;
  }
  if (hosts.length > 1) return badRequest(target, 'The request has more than one Host header', 'send exactly one');

  if (host !== undefined) {
    const trimmed = host.trim();
    if (trimmed.length === 0) return badRequest(target, 'The Host header is empty', 'send the name the client connected to');
    if (!HOST_SYNTAX.test(trimmed)) {
      return badRequest(target, `The Host header "${trimmed}" is not a host name the proxy can read the way the backend does`,
        'send a host name (and port)');
    }
  }
  const reading = policy.hostRules.read(host === undefined ? '' : hostName(host));
  if (reading.kind === 'unknown') return badRequest(target, reading.reason);
  if ((reading.kind === 'virtual' || reading.kind === 'cname') && UPPER.test(host!.trim().slice(0, reading.bucket.length))) {
    // Domains compare case-insensitively, bucket names do not: s3rver reads "BKT" as its own bucket.
    return badRequest(target, `The bucket name in the Host header "${host!.trim()}" is not in lower case (S3 servers differ on case)`,
      'send the bucket name in lower case');
  }

  if (!target.startsWith('/')) return badUri(target, 'the request target does not start with "/"', 'send an origin-form target');
  const hash = target.indexOf('#');
  const qi = target.indexOf('?');
  const rawPath = qi === -1 ? target : target.slice(0, qi);
  if (INVALID_PERCENT.test(target)) {
    return refuse(target, 400, 'InvalidURI', "Couldn't parse the specified URI.", 'invalid percent-encoding in the request target');
  }
  if (hash !== -1 && !policy.literalPaths) return badUri(target, 'the request target has a raw "#"');

  let rawKey: string;
  if (reading.kind === 'path') {
    const slash = rawPath.indexOf('/', 1);
    const rawBucket = slash === -1 ? rawPath.slice(1) : rawPath.slice(1, slash);
    rawKey = slash === -1 ? '' : rawPath.slice(slash + 1);
    if (rawBucket.length === 0) {
      if (rawKey.length > 0 || slash !== -1) return badUri(target, 'the path has an empty bucket name ("//")', 'send /bucket/key');
    } else {
      const bucket = percentDecode(rawBucket, false);
      if (bucket === null || !PATH_BUCKET.test(bucket) || bucket === '.' || bucket === '..') {
        return refuse(target, 400, 'InvalidBucketName', 'The specified bucket is not valid.',
          'the bucket name in the path is not a valid bucket name');
      }
    }
  } else {
    rawKey = rawPath.slice(1);
  }
  if (rawKey.length > 0) {
    const key = percentDecode(rawKey, false);
    if (key === null) return refuse(target, 400, 'InvalidURI', "Couldn't parse the specified URI.", 'the object key is not valid percent-encoded UTF-8');
    if (!policy.literalPaths) {
      const problem = keyProblem(key);
      if (problem !== null) return badUri(target, problem);
    }
  }
  return { url: target, refusal: null };
}
