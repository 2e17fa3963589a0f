// nginx as the benchmark backend (static GET, WebDAV PUT) and as the proxy_pass anchor.
// Each instance runs in the foreground (`daemon off`) under its own prefix, as our child.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnChild, waitFor, which, type Child } from './proc.js';
import { connect } from 'node:net';

export interface NginxInstance {
  child: Child;
  port: number;
  url: string;
  prefix: string;
}

function common(prefix: string, workers: number): string {
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return [
    asRoot ? 'user root;' : '',
    `worker_processes ${workers};`,
    'worker_rlimit_nofile 16384;',
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'error.log')} warn;`,
    'events { worker_connections 8192; multi_accept on; }',
  ].join('\n');
}

function httpCommon(prefix: string, bodyTemp: string): string {
  return [
    'access_log off;',
    'sendfile on; tcp_nopush on; tcp_nodelay on;',
    'keepalive_requests 10000000; keepalive_timeout 65s;',
    'default_type application/octet-stream;',
    `client_body_temp_path ${bodyTemp};`,
    `proxy_temp_path ${join(prefix, 'proxy_temp')};`,
    `fastcgi_temp_path ${join(prefix, 'fastcgi_temp')};`,
    `uwsgi_temp_path ${join(prefix, 'uwsgi_temp')};`,
    `scgi_temp_path ${join(prefix, 'scgi_temp')};`,
    'client_max_body_size 0;',
  ].join('\n');
}

/**
 * Backend: GET serves files under `root` (sendfile), PUT stores them with the WebDAV module
 * (`dav_methods PUT`: body to a temp file on the same file system, then rename; 201/204).
 */
export function backendConfig(prefix: string, root: string, port: number, workers: number): string {
  const bodyTemp = join(root, '.nginx-body');
  mkdirSync(bodyTemp, { recursive: true });
  return `${common(prefix, workers)}
http {
${httpCommon(prefix, bodyTemp)}
server {
  listen 127.0.0.1:${port} backlog=4096;
  root ${root};
  client_body_buffer_size 256k;
  location / {
    dav_methods PUT;
    create_full_put_path on;
    dav_access user:rw group:r all:r;
  }
}
}
`;
}

/** The anchor: proxy_pass with upstream keep-alive, request streaming (no request buffering). */
export function proxyConfig(prefix: string, backendPort: number, port: number, workers: number): string {
  return `${common(prefix, workers)}
http {
${httpCommon(prefix, join(prefix, 'client_body_temp'))}
upstream s3backend {
  server 127.0.0.1:${backendPort};
  keepalive 512;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
}
server {
  listen 127.0.0.1:${port} backlog=4096;
  location / {
    proxy_pass http://s3backend;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_request_buffering off;
    proxy_max_temp_file_size 0;
  }
}
}
`;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export async function startNginx(name: string, nginxBin: string, prefix: string, conf: string, port: number): Promise<NginxInstance> {
  mkdirSync(prefix, { recursive: true });
  for (const d of ['proxy_temp', 'fastcgi_temp', 'uwsgi_temp', 'scgi_temp', 'client_body_temp']) mkdirSync(join(prefix, d), { recursive: true });
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, conf);
  // nginx prints nothing when it starts: ready = its port accepts connections (bounded wait).
  const child = spawnChild(name, nginxBin, ['-p', prefix, '-e', join(prefix, 'error.log'), '-c', confPath, '-g', 'daemon off;']);
  let exited = false;
  void child.exited.then(() => { exited = true; });
  const up = await waitFor(async () => exited || (await portOpen(port)), 8000, 25);
  if (!up || exited) {
    await child.stop(1000);
    let log = '';
    try { log = readFileSync(join(prefix, 'error.log'), 'utf8').slice(-2000); } catch { /* none */ }
    throw new Error(`${name} did not start on port ${port}:\n${child.lines.join('\n')}\n${log}`);
  }
  return { child, port, url: `http://127.0.0.1:${port}`, prefix };
}

/**
 * The profiling tools' backend (bench/profile.ts, bench/alloc-profile.ts): nginx with 1 worker under
 * `work`, serving a 4 KiB bench/obj-4k and taking PUTs under bench/put and bench/upload (in `www`).
 */
export async function startProfileBackend(work: string): Promise<NginxInstance & { www: string }> {
  const www = join(work, 'www');
  mkdirSync(join(www, 'bench', 'put'), { recursive: true });
  mkdirSync(join(www, 'bench', 'upload'), { recursive: true });
  writeFileSync(join(www, 'bench', 'obj-4k'), randomBytes(4096));
  const port = await freePort();
  const prefix = join(work, 'nginx');
  mkdirSync(prefix);
  const n = await startNginx('nginx-backend', which('nginx') ?? '/usr/sbin/nginx', prefix, backendConfig(prefix, www, port, 1), port);
  return { ...n, www };
}
