// A realistic audit event (a SigV4 GetObject through the proxy), shaped like src/audit/event.ts.
// Kept as a plain object so a change of the event type does not break the benchmark build; only
// fields vary per event the way they do in real traffic (about 1.1-1.3 KB of JSON).
import type { AuditEvent } from '../src/audit/event.js';

const BASE_MS = Date.UTC(2025, 0, 1);

// Deterministic PRNG (xorshift32): the same events every run, varied enough that gzip ratios are
// realistic (ids, keys, sizes, timings and client ports differ per event, as in real traffic).
let state = 0x9e3779b9;
function rnd(): number {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 0x100000000;
}
const hex = (n: number): string => {
  let s = '';
  for (let i = 0; i < n; i++) s += ((rnd() * 16) | 0).toString(16);
  return s;
};
const pick = <T>(a: readonly T[]): T => a[(rnd() * a.length) | 0]!;

const AGENTS = [
  'aws-sdk-java/2.25.40 Linux/6.1.0 OpenJDK_64-Bit_Server_VM/21.0.3 Java/21.0.3 vendor/Eclipse_Adoptium io/sync http/Apache cfg/retry-mode/legacy',
  'aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.cp',
  'aws-sdk-js/3.540.0 ua/2.0 os/linux#6.1.0 lang/js md/nodejs#20.12.0 api/s3#3.540.0',
  'Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8 cfg/retry-mode#legacy Botocore/1.34.69',
  'MinIO (linux; amd64) minio-go/v7.0.69',
];
const BUCKETS = ['analytics-prod', 'backups', 'ml-datasets', 'web-assets', 'logs-archive'];
const APIS = [
  { name: 'GetObject', method: 'GET', readOnly: true },
  { name: 'GetObject', method: 'GET', readOnly: true },
  { name: 'HeadObject', method: 'HEAD', readOnly: true },
  { name: 'PutObject', method: 'PUT', readOnly: false },
  { name: 'GetObject', method: 'GET', readOnly: true },
] as const;
const KEYS = ['logs/2025/01/01/part-', 'images/thumbs/', 'datasets/train/shard-', 'db/pg/wal/00000001000000A4000000', 'static/js/app.'];
const EXT = ['.parquet', '.jpg', '.tfrecord', '', '.js'];

export function sampleEvent(seq: number): AuditEvent {
  const t = BASE_MS + seq;
  const api = pick(APIS);
  const bucket = pick(BUCKETS);
  const k = (rnd() * KEYS.length) | 0;
  const key = `${KEYS[k]}${(rnd() * 100000) | 0}${EXT[k]}`;
  const size = api.method === 'HEAD' ? 0 : 1 + ((rnd() * rnd() * 8_000_000) | 0);
  const total = Math.round(rnd() * rnd() * 40_000) / 1000 + 0.2;
  const ev = {
    version: '1',
    id: `${t.toString(16).padStart(12, '0').replace(/^(.{8})/, '$1-')}-7${hex(3)}-${'89ab'[(rnd() * 4) | 0]}${hex(3)}-${hex(12)}`,
    kind: 's3',
    time: new Date(t).toISOString(),
    api: {
      name: api.name,
      bucket,
      object: key,
      addressing: 'path',
      readOnly: api.readOnly,
      versionId: null,
      uploadId: null,
      partNumber: null,
      copySource: null,
      objects: null,
      objectsTruncated: false,
    },
    request: {
      id: `1815D0E2${seq.toString(16).toUpperCase().padStart(8, '0')}`,
      method: api.method,
      path: `/${bucket}/${key}`,
      query: {},
      host: 's3.internal.example.com:9080',
      userAgent: pick(AGENTS),
      contentLength: api.method === 'PUT' ? size : null,
      decodedContentLength: null,
      headers: {},
    },
    response: {
      statusCode: rnd() < 0.97 ? 200 : 404,
      errorCode: null,
      errorMessage: null,
      requestId: `17E5B3B2${hex(8).toUpperCase()}`,
      hostId: 'dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8',
      contentLength: api.method === 'GET' ? size : 0,
      headers: {},
    },
    auth: {
      type: 'sigv4-header',
      accessKey: pick(['AKIAIOSFODNN7EXAMPLE', 'AKIAI44QH8DHBEXAMPLE', 'AKIAJ5Z3Q2KX7EXAMPLE']),
      region: 'us-east-1',
      signatureVersion: 'SigV4',
      signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date'],
      payloadSigning: 'UNSIGNED-PAYLOAD',
      sessionToken: false,
      verified: null,
      problem: null,
    },
    client: { ip: `10.12.${(rnd() * 8) | 0}.${(rnd() * 250 + 2) | 0}`, port: 32768 + ((rnd() * 28000) | 0), peerIp: null },
    tls: null,
    bytes: { received: api.method === 'PUT' ? size : 0, sent: api.method === 'GET' ? size : 0 },
    timing: { firstByteMs: Math.round(total * 600) / 1000, totalMs: total },
    outcome: 'completed',
    outcomeDetail: null,
    proxy: { host: 's3-audit-proxy-1', backend: 'http://minio.internal:9000' },
  };
  return ev as unknown as AuditEvent;
}
