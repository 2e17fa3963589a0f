// `s3-audit-proxy serve` settings: the option table and the typed config the rest of the process uses.
import { auditLogSetting } from './audit-log-default.js';
import { readIntegrityKey } from '../audit/sequence.js';
import { accessSync, constants as fsConstants } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { readClusterCredentials, readClusterKey } from '../cluster/secrets.js';
import { envName, resolveOptions, type OptionDef } from './options.js';
import type { HostPort } from './values.js';

export interface ServeConfig {
  /** S3 listener. */
  listen: HostPort;
  /** Backend S3 origin; null = start the embedded local S3 store under dataDir. */
  backend: string | null;
  dataDir: string;
  virtualHostDomains: string[];
  /** Extra Host names read as path style (the loopback names, the machine's and the listener's always are). */
  pathStyleHosts: string[];
  /** An unknown Host is the bucket name (CNAME buckets, as AWS S3 and s3rver read it). */
  hostBucketCname: boolean;
  /** Forward dot segments, empty segments, a raw '#' and backslashes as literal key characters. */
  literalPaths: boolean;
  tlsCert: string | null;
  tlsKey: string | null;
  backendCa: string | null;
  backendInsecureSkipVerify: boolean;
  /** Max sockets to the backend; 0 = no cap (one per request in flight, idle ones closed after 4 s). */
  backendConnections: number;
  connectTimeoutMs: number;
  /** Backend: time to the response headers. */
  backendHeadersTimeoutMs: number;
  /** Backend: max idle time between body chunks. */
  backendBodyTimeoutMs: number;
  /** Client: time allowed to send the request headers (slowloris guard). */
  clientHeadersTimeoutMs: number;
  /** Client: whole-request limit (0 = none; large uploads need none). */
  clientRequestTimeoutMs: number;
  /** Client: max time a response write may make no progress because the client does not read (0 = none). */
  clientSendTimeoutMs: number;
  /** Client: max time without a request body byte while the proxy is reading the body (0 = none). */
  clientBodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Descriptors of the S3 listening socket polled per loop turn (1 = Node's one accept per turn). */
  acceptQueues: number;
  /** While a body of >= 8 MiB streams, let V8's heap grow above what is live and scavenge every 16 MiB of reads (src/proxy/gc-headroom.ts, young-buffers.ts). */
  gcHeadroom: boolean;
  /** V8's allocation-site pretenuring (off by default: src/proxy/pretenuring.ts). */
  v8Pretenuring: boolean;
  /** Start (or hand the workers) glibc malloc settings for streaming when the environment has none (src/proxy/malloc-env.ts). */
  mallocTuning: boolean;
  shutdownTimeoutMs: number;
  logLevel: string;
  /** Peers (IPs or CIDRs) whose X-Forwarded-For / Forwarded headers are believed. */
  trustedProxies: string[];
  /** The one forwarding header the trusted proxies set (and overwrite): only it is believed. */
  trustedProxyHeader: 'x-forwarded-for' | 'forwarded';
  auditRequestHeaders: string[];
  auditResponseHeaders: string[];
  credentialsFile: string | null;
  requireValidSignature: boolean;
  queueMaxEvents: number;
  queueMaxBytes: number;
  spoolMaxBytes: number;
  /** Dead-letter files (events the receiver refused for good) bound, bytes. */
  deadLetterMaxBytes: number;
  spoolFsyncIntervalMs: number;
  auditLog: string | null;
  auditLogMaxBytes: number;
  auditLogMaxFiles: number;
  adminListen: HostPort;
  adminToken: string | null;
  adminTokenFile: string | null;
  /** Host name written into events and HEC envelopes. */
  hostName: string | null;
  /** S3 listener processes (node:cluster workers); 1 = the S3 listener runs in this process. */
  workers: number;
  /** Secret key of the events' HMAC chain (mode 0600 enforced), or null: no integrity field. */
  integrityKeyFile: string | null;
  /** --cluster-store s3://BUCKET/PREFIX: the fleet's shared audit settings and members (null = this replica alone). */
  clusterStore: { bucket: string; prefix: string } | null;
  /** JSON {"accessKeyId","secretAccessKey"}: the proxy's own credentials for the store (null: the embedded store's). */
  clusterCredentialsFile: string | null;
  /** AES-256 key (mode 0600) that encrypts the receiver's token in the store. */
  clusterKeyFile: string | null;
  clusterPollIntervalMs: number;
  clusterHeartbeatIntervalMs: number;
  /** Open the S3 port even while the store cannot be read at start (with the last settings saved locally). */
  clusterStartWithoutStore: boolean;
  /** Fail closed: refuse S3 requests (503 SlowDown) while their audit event could not be kept. */
  auditRequired: boolean;
}

/** Most copies of the listening socket polled at once (each is a descriptor and a poll entry). */
export const MAX_ACCEPT_QUEUES = 64;

export const DEFAULT_LISTEN = '127.0.0.1:9080';
export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:9081';

export const SERVE_OPTIONS: readonly OptionDef[] = [
  { name: 'config', kind: 'string', arg: 'file', help: 'JSON file of settings (keys are flag names)' },
  { name: 'listen', kind: 'hostport', arg: 'host:port', default: { host: '127.0.0.1', port: 9080 }, help: 'S3 listener address' },
  { name: 'backend', kind: 'url', arg: 'url', help: 'S3 backend origin (omit to use the embedded local store)' },
  { name: 'data-dir', kind: 'string', arg: 'dir', default: 'data', help: 'spool, state, generated tokens, embedded store' },
  { name: 'virtual-host-domain', kind: 'string', arg: 'domain', repeatable: true, default: [], help: 'base domain for virtual-hosted-style requests ("*" = one label; s3.amazonaws.com also covers its regional, dual-stack and dash forms)' },
  { name: 'path-style-host', kind: 'string', arg: 'name', repeatable: true, default: [], help: 'Host name (or *.suffix) clients use for path-style requests, besides localhost, 127.0.0.1, [::1], the listener address, the machine\'s host name and any IP address' },
  { name: 'host-bucket-cname', kind: 'boolean', default: false, help: 'read an unknown Host as the bucket name (CNAME buckets: AWS S3, s3rver); otherwise such requests are refused' },
  { name: 'literal-paths', kind: 'boolean', default: false, help: 'forward "."/".." and empty path segments, a raw "#" and backslashes as literal key characters (only for backends that keep them); otherwise refused' },
  { name: 'tls-cert', kind: 'string', arg: 'file', help: 'serve HTTPS with this certificate (PEM)' },
  { name: 'tls-key', kind: 'string', arg: 'file', help: 'private key for --tls-cert (PEM)' },
  { name: 'backend-ca', kind: 'string', arg: 'file', help: 'CA bundle to trust for an HTTPS backend' },
  { name: 'backend-insecure-skip-verify', kind: 'boolean', default: false, help: 'do not verify the backend certificate' },
  { name: 'backend-connections', kind: 'integer', default: 0, help: 'max sockets to the backend (0 = no cap: one per request in flight, so stalled clients cannot hold the others\' share)' },
  { name: 'connect-timeout', kind: 'duration', default: 5000, help: 'backend connect timeout' },
  { name: 'backend-headers-timeout', kind: 'duration', default: 300_000, help: 'wait for the backend response headers' },
  { name: 'backend-body-timeout', kind: 'duration', default: 300_000, help: 'max idle time in a backend response body' },
  { name: 'client-headers-timeout', kind: 'duration', default: 60_000, help: 'time a client has to send its request headers' },
  { name: 'client-request-timeout', kind: 'duration', default: 0, help: 'whole-request limit for clients (0 = none)' },
  { name: 'client-send-timeout', kind: 'duration', default: 60_000, help: 'max time a response write may make no progress because the client does not read; then the connection is closed (0 = none)' },
  { name: 'client-body-timeout', kind: 'duration', default: 60_000, help: 'max time without a request body byte while the proxy reads the body; then 408 and close (0 = none)' },
  { name: 'keep-alive-timeout', kind: 'duration', default: 65_000, help: 'idle keep-alive time for client connections' },
  { name: 'accept-queues', kind: 'integer', default: 16, help: 'connections the S3 listener may accept per event-loop turn (copies of the listening socket; 1 = Node\'s one per turn, slow to take a burst of new connections on a busy proxy)' },
  { name: 'gc-headroom', kind: 'boolean', default: true, help: 'while a body of 8 MiB or more streams, let the heap grow ~48 MiB above what is live and ask for a scavenge every 16 MiB of read buffers, so they do not cause a full collection every 32-64 MiB (set at run time with v8.setFlagsFromString; false = V8\'s own heap sizing and collections)' },
  { name: 'malloc-tuning', kind: 'boolean', default: true, help: 'when the environment has no MALLOC_* or glibc.malloc.* setting, run with MALLOC_TRIM_THRESHOLD_=33554432 MALLOC_MMAP_THRESHOLD_=4194304 (glibc reads them at start: serve re-executes itself once, same process id, where Node has process.execve (22.15+, Linux, glibc), and hands them to --workers workers); with glibc\'s defaults a large GET or PUT can fault in ~230 fresh pages per MiB; false = glibc\'s defaults' },
  { name: 'v8-pretenuring', kind: 'boolean', default: false, help: 'leave V8\'s allocation-site pretenuring on (off by default: once V8 tenured a few per-request literals, every request\'s objects were promoted to the old generation, 10-28 µs of CPU per PUT measured; set at start with v8.setFlagsFromString)' },
  { name: 'workers', kind: 'workers', arg: 'n|auto', default: 1, help: 'S3 listener processes sharing the port (auto = one per core); delivery stays in one process' },
  { name: 'shutdown-timeout', kind: 'duration', default: 30_000, help: 'on SIGTERM, how long in-flight requests may finish' },
  { name: 'log-level', kind: 'level', default: 'info', help: 'fatal, error, warn, info, debug (one line per request), trace, silent' },
  { name: 'trusted-proxy', kind: 'string', arg: 'ip|cidr', repeatable: true, default: [], help: 'peer whose forwarding header (--trusted-proxy-header) is believed' },
  { name: 'trusted-proxy-header', kind: 'string', arg: 'x-forwarded-for|forwarded', default: 'x-forwarded-for', help: 'the header the trusted proxies set: only that one is believed (a client\'s own copy of the other is ignored)' },
  { name: 'audit-request-header', kind: 'string', arg: 'name', repeatable: true, default: [], help: 'request header to copy into events (secrets never are)' },
  { name: 'audit-response-header', kind: 'string', arg: 'name', repeatable: true, default: [], help: 'response header to copy into events' },
  { name: 'credentials-file', kind: 'string', arg: 'file', help: 'access keys and secrets (JSON or AKID:SECRET lines) to verify SigV4 signatures' },
  { name: 'require-valid-signature', kind: 'boolean', default: false, help: 'reject requests whose signature is not verified (needs --credentials-file)' },
  { name: 'queue-max-events', kind: 'integer', default: 100_000, help: 'audit events held in memory' },
  { name: 'queue-max-bytes', kind: 'size', default: 64 * 1024 ** 2, help: 'bytes of audit events held in memory' },
  { name: 'spool-max-bytes', kind: 'size', default: 1024 ** 3, help: 'disk spool limit while the webhook is failing' },
  { name: 'dead-letter-max-bytes', kind: 'size', default: 256 * 1024 ** 2, help: 'disk limit of the dead-letter files: events the receiver refused for good' },
  { name: 'spool-fsync-interval', kind: 'duration', default: 1000, help: 'spool fsync interval (0 = every write)' },
  { name: 'audit-log', kind: 'string', arg: 'file', help: 'also write events to this JSONL file (rotated); default with the embedded store (no --backend): <data-dir>/audit.jsonl; "none": no file' },
  { name: 'audit-log-max-bytes', kind: 'size', default: 100 * 1024 ** 2, help: 'rotate the audit log at this size' },
  { name: 'audit-log-max-files', kind: 'integer', default: 5, help: 'rotated audit log files kept' },
  { name: 'admin-listen', kind: 'hostport', arg: 'host:port', default: { host: '127.0.0.1', port: 9081 }, help: 'admin API listener (keep it internal)' },
  { name: 'admin-token', kind: 'string', secret: true, help: 'admin API bearer token; a flag shows in ps: prefer --admin-token-file or S3AP_ADMIN_TOKEN' },
  { name: 'admin-token-file', kind: 'string', arg: 'file', help: 'file holding the admin API token' },
  { name: 'host-name', kind: 'string', help: 'host name written into events (default: os.hostname())' },
  { name: 'cluster-store', kind: 'string', arg: 's3://bucket/prefix', help: 'share the audit settings and a members list with every replica through this bucket of the backend (created if missing; docs/cluster.md)' },
  { name: 'cluster-credentials-file', kind: 'string', arg: 'file', help: 'JSON {"accessKeyId","secretAccessKey"}: the proxy\'s own credentials for the cluster store (never the clients\'); default with the embedded store: its account' },
  { name: 'cluster-key-file', kind: 'string', arg: 'file', help: 'AES-256 key (32 bytes, or 64 hex or base64 characters; mode 0600) that encrypts the receiver token in the cluster store; the same on every replica' },
  { name: 'cluster-poll-interval', kind: 'duration', default: 1000, help: 'how often the cluster store\'s settings are checked (a conditional GET); changes apply within about this long' },
  { name: 'cluster-heartbeat-interval', kind: 'duration', default: 5000, help: 'how often this replica writes its member heartbeat to the cluster store' },
  { name: 'cluster-start-without-store', kind: 'boolean', default: false, help: 'open the S3 port even when the cluster store cannot be read at start (with the settings last saved in --data-dir); default: not ready until it is read' },
  { name: 'audit-required', kind: 'boolean', default: false, help: 'fail closed: while an audit event could not be kept (memory queue and spool full, or the spool failing), refuse S3 requests with 503 SlowDown before they reach the backend (counted, and declared by a kind "refused" event); default: fail open' },
  { name: 'integrity-key-file', kind: 'string', arg: 'file', help: 'secret key (file mode 0600) of the HMAC chain over the events (integrity.mac; check with s3-audit-proxy verify --key-file)' },
];

/** Environment variables that belong to other commands and must not be rejected by serve. */
const FOREIGN_ENV = new Set(['S3AP_ADMIN', 'S3AP_TEST_BACKEND_URL', 'S3AP_TEST_ACCESS_KEY', 'S3AP_TEST_SECRET_KEY', 'S3AP_TEST_BACKEND_KIND']);

function trustedProxyHeader(v: string): ServeConfig['trustedProxyHeader'] {
  const h = v.toLowerCase();
  if (h !== 'x-forwarded-for' && h !== 'forwarded') throw new ConfigError('--trusted-proxy-header', `expected x-forwarded-for or forwarded, got ${JSON.stringify(v)}`);
  return h;
}

/** `s3://BUCKET/PREFIX` -> bucket and prefix (no leading or trailing slash). */
export function parseClusterStore(raw: string | null): ServeConfig['clusterStore'] {
  if (raw === null) return null;
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(raw);
  if (!m) throw new ConfigError('--cluster-store', `expected s3://BUCKET/PREFIX, got ${JSON.stringify(raw.slice(0, 200))}`);
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError('--cluster-store', `bucket name ${JSON.stringify(bucket)} is not a valid S3 bucket name (3-63 lower-case letters, digits, dots, dashes)`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9._\/-]*$/.test(prefix) || prefix.split('/').some((seg) => seg === '..' || seg === '.')) {
    throw new ConfigError('--cluster-store', 'the prefix may hold letters, digits, ".", "_", "-" and "/" only');
  }
  return { bucket, prefix };
}

function checkClusterSettings(cfg: ServeConfig): void {
  const others: Array<[string, boolean]> = [
    ['--cluster-credentials-file', cfg.clusterCredentialsFile !== null], ['--cluster-key-file', cfg.clusterKeyFile !== null],
    ['--cluster-start-without-store', cfg.clusterStartWithoutStore],
  ];
  if (!cfg.clusterStore) {
    const set = others.find(([, on]) => on);
    if (set) throw new ConfigError(set[0], 'needs --cluster-store');
    return;
  }
  if (cfg.clusterKeyFile === null) throw new ConfigError('--cluster-key-file', 'required with --cluster-store: the receiver token is stored encrypted under it');
  if (cfg.backend && cfg.clusterCredentialsFile === null) throw new ConfigError('--cluster-credentials-file', 'required with --cluster-store and --backend: the proxy signs its store requests with its own credentials');
  if (cfg.clusterPollIntervalMs < 100 || cfg.clusterPollIntervalMs > 60_000) throw new ConfigError('--cluster-poll-interval', 'must be between 100ms and 60s');
  if (cfg.clusterHeartbeatIntervalMs < 500 || cfg.clusterHeartbeatIntervalMs > 10_000) throw new ConfigError('--cluster-heartbeat-interval', 'must be between 500ms and 10s (a member silent for 30 s is shown lost)');
  // Read at start-up: a missing or unsafe file is a setting error naming the flag.
  readClusterKey(cfg.clusterKeyFile);
  if (cfg.clusterCredentialsFile !== null) readClusterCredentials(cfg.clusterCredentialsFile);
}

/** @param otherCommandsEnv S3AP_* names that belong to other sub-commands (the CLI's): not errors here. */
export function loadServeConfig(argv: readonly string[], env: NodeJS.ProcessEnv, otherCommandsEnv: Iterable<string> = []): ServeConfig {
  const own = new Set(SERVE_OPTIONS.map((d) => envName(d.name)));
  const ignoreEnv = new Set([...FOREIGN_ENV, ...otherCommandsEnv].filter((n) => !own.has(n)));
  const { values: v, positionals } = resolveOptions(SERVE_OPTIONS, argv, env, { ignoreEnv });
  if (positionals.length) throw new ConfigError(positionals[0]!, 'unexpected argument to serve');
  const str = (k: string): string | null => (v[k] as string | undefined) ?? null;
  const cfg: ServeConfig = {
    listen: v['listen'] as HostPort,
    backend: str('backend'),
    dataDir: resolve(v['data-dir'] as string),
    virtualHostDomains: (v['virtual-host-domain'] as string[]).map((d) => d.toLowerCase()),
    pathStyleHosts: (v['path-style-host'] as string[]).map((d) => d.toLowerCase()),
    hostBucketCname: v['host-bucket-cname'] as boolean,
    literalPaths: v['literal-paths'] as boolean,
    tlsCert: str('tls-cert'),
    tlsKey: str('tls-key'),
    backendCa: str('backend-ca'),
    backendInsecureSkipVerify: v['backend-insecure-skip-verify'] as boolean,
    backendConnections: v['backend-connections'] as number,
    connectTimeoutMs: v['connect-timeout'] as number,
    backendHeadersTimeoutMs: v['backend-headers-timeout'] as number,
    backendBodyTimeoutMs: v['backend-body-timeout'] as number,
    clientHeadersTimeoutMs: v['client-headers-timeout'] as number,
    clientRequestTimeoutMs: v['client-request-timeout'] as number,
    clientSendTimeoutMs: v['client-send-timeout'] as number,
    clientBodyTimeoutMs: v['client-body-timeout'] as number,
    keepAliveTimeoutMs: v['keep-alive-timeout'] as number,
    acceptQueues: v['accept-queues'] as number,
    gcHeadroom: v['gc-headroom'] as boolean,
    v8Pretenuring: v['v8-pretenuring'] as boolean,
    mallocTuning: v['malloc-tuning'] as boolean,
    shutdownTimeoutMs: v['shutdown-timeout'] as number,
    logLevel: v['log-level'] as string,
    trustedProxies: v['trusted-proxy'] as string[],
    trustedProxyHeader: trustedProxyHeader(v['trusted-proxy-header'] as string),
    auditRequestHeaders: (v['audit-request-header'] as string[]).map((h) => h.toLowerCase()),
    auditResponseHeaders: (v['audit-response-header'] as string[]).map((h) => h.toLowerCase()),
    credentialsFile: str('credentials-file'),
    requireValidSignature: v['require-valid-signature'] as boolean,
    queueMaxEvents: v['queue-max-events'] as number,
    queueMaxBytes: v['queue-max-bytes'] as number,
    spoolMaxBytes: v['spool-max-bytes'] as number,
    deadLetterMaxBytes: v['dead-letter-max-bytes'] as number,
    spoolFsyncIntervalMs: v['spool-fsync-interval'] as number,
    auditLog: auditLogSetting(str('audit-log'), resolve(v['data-dir'] as string), str('backend')),
    auditLogMaxBytes: v['audit-log-max-bytes'] as number,
    auditLogMaxFiles: v['audit-log-max-files'] as number,
    adminListen: v['admin-listen'] as HostPort,
    adminToken: str('admin-token'),
    adminTokenFile: str('admin-token-file'),
    hostName: str('host-name'),
    workers: v['workers'] as number,
    integrityKeyFile: str('integrity-key-file'),
    clusterStore: parseClusterStore(str('cluster-store')),
    clusterCredentialsFile: str('cluster-credentials-file'),
    clusterKeyFile: str('cluster-key-file'),
    clusterPollIntervalMs: v['cluster-poll-interval'] as number,
    clusterHeartbeatIntervalMs: v['cluster-heartbeat-interval'] as number,
    clusterStartWithoutStore: v['cluster-start-without-store'] as boolean,
    auditRequired: v['audit-required'] as boolean,
  };
  if ((cfg.tlsCert === null) !== (cfg.tlsKey === null)) {
    throw new ConfigError(cfg.tlsCert ? '--tls-key' : '--tls-cert', '--tls-cert and --tls-key go together');
  }
  // Files read at start-up: a missing one is a setting error, not a crash later (or in every worker).
  for (const [flag, file] of [['--tls-cert', cfg.tlsCert], ['--tls-key', cfg.tlsKey], ['--backend-ca', cfg.backendCa], ['--credentials-file', cfg.credentialsFile]] as const) {
    if (file === null) continue;
    try {
      accessSync(file, fsConstants.R_OK);
    } catch (err) {
      throw new ConfigError(flag, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  // Refused when group or others can read it (exit 2 naming the flag); read again by each process.
  if (cfg.integrityKeyFile !== null) readIntegrityKey(cfg.integrityKeyFile);
  checkClusterSettings(cfg);
  if (cfg.acceptQueues < 1 || cfg.acceptQueues > MAX_ACCEPT_QUEUES) {
    throw new ConfigError('--accept-queues', `expected 1 to ${MAX_ACCEPT_QUEUES}, got ${cfg.acceptQueues}`);
  }
  if (cfg.requireValidSignature && !cfg.credentialsFile) {
    throw new ConfigError('--require-valid-signature', 'needs --credentials-file');
  }
  if (cfg.backend) {
    const u = new URL(cfg.backend);
    if (u.pathname !== '/' || u.search) throw new ConfigError('--backend', 'must be an origin without a path (e.g. http://minio:9000)');
    cfg.backend = u.origin;
  }
  return cfg;
}
