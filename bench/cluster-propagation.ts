// Cluster mode measurements (docs/cluster.md): how long a settings change takes to reach every
// replica, and how many requests per second each replica sends to the store at rest.
//
//   npm run build && node dist/bench/cluster-propagation.js [replicas=3] [changes=12] [idleSeconds=30]
//
// Three replicas (separate processes, separate data dirs, default --cluster-poll-interval and
// --cluster-heartbeat-interval) share a cluster store on a standalone s3rver (S3AP_TEST_BACKEND_URL
// to use another backend). Changes (enable, batch-config, disable, in turn) are made through a
// different replica each time; the delay of a change is from the admin API's answer to the moment
// the last replica's /metrics shows the new revision (sampled every 10 ms: /metrics does not touch
// the store). The idle rate is s3ap_cluster_store_requests_total over idleSeconds, per replica.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startBackend, bucketName } from '../test/helpers/backend.js';
import { startHecReceiver } from '../test/helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../test/helpers/proxy.js';
import { adminCall } from '../test/helpers/admin.js';

const [replicaCount = 3, changes = 12, idleSeconds = 30] = process.argv.slice(2).map(Number);
const backend = await startBackend();
const receiver = await startHecReceiver();
const files = tempDir('s3ap-cluster-bench-');
const token = randomBytes(16).toString('hex');
writeFileSync(join(files.path, 'key'), randomBytes(32).toString('hex'), { mode: 0o600 });
writeFileSync(join(files.path, 'creds.json'), JSON.stringify({ accessKeyId: backend.accessKeyId, secretAccessKey: backend.secretAccessKey }), { mode: 0o600 });
writeFileSync(join(files.path, 'admin-token'), token, { mode: 0o600 });
const store = bucketName('s3ap-bench');
const replicas: Array<{ p: ChildProxy; admin: string; dir: { path: string; remove(): void } }> = [];
try {
  for (let i = 0; i < replicaCount; i++) {
    const dir = tempDir(`s3ap-bench-r${i}-`);
    const p = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--backend', backend.url, '--data-dir', dir.path,
      '--cluster-store', `s3://${store}/bench`, '--cluster-credentials-file', join(files.path, 'creds.json'), '--cluster-key-file', join(files.path, 'key'),
      '--admin-token-file', join(files.path, 'admin-token'), '--host-name', `bench-${i}`, '--log-level', 'info'], {}, 60_000);
    replicas.push({ p, admin: p.adminUrl!, dir });
  }
  const metric = async (admin: string, name: string): Promise<number> => {
    const text = (await adminCall(admin, 'GET', '/metrics')).text;
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const delays: number[] = [];
  for (let c = 0; c < changes; c++) {
    const via = replicas[c % replicas.length]!;
    const kind = c % 3;
    const path = kind === 0 ? 'enable' : kind === 1 ? 'batch-config' : 'disable';
    const body = kind === 0 ? { endpoint: receiver.eventUrl, authToken: 'Splunk 00000000-1111-2222-3333-444444444444' } : kind === 1 ? { batchMaxEvents: 100 + c } : {};
    const r = await adminCall(via.admin, 'POST', `/api/v1/audit-webhook/${path}`, { token, body });
    if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.text}`);
    const t0 = performance.now();
    const revision = (r.json as { cluster: { revision: number } }).cluster.revision;
    const pending = new Set(replicas.filter((x) => x !== via));
    const deadline = t0 + 30_000;
    while (pending.size > 0 && performance.now() < deadline) {
      for (const x of [...pending]) if ((await metric(x.admin, 's3ap_cluster_settings_revision')) >= revision) pending.delete(x);
      if (pending.size > 0) await new Promise((res) => setTimeout(res, 10));
    }
    if (pending.size > 0) throw new Error(`change ${c} (${path}) did not reach every replica within 30 s`);
    delays.push(performance.now() - t0);
    await new Promise((res) => setTimeout(res, 300 + Math.random() * 700)); // changes at random phases of the poll
  }
  const sorted = [...delays].sort((a, b) => a - b);
  const med = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  const before = await Promise.all(replicas.map((x) => metric(x.admin, 's3ap_cluster_store_requests_total')));
  const t1 = performance.now();
  await new Promise((res) => setTimeout(res, idleSeconds * 1000));
  const after = await Promise.all(replicas.map((x) => metric(x.admin, 's3ap_cluster_store_requests_total')));
  const secs = (performance.now() - t1) / 1000;
  const rates = replicas.map((_, i) => (after[i]! - before[i]!) / secs);
  const out = {
    replicas: replicaCount, changes: delays.length, backend: backend.kind,
    propagationMs: { min: Math.round(sorted[0]!), median: Math.round(med), max: Math.round(sorted[sorted.length - 1]!), all: delays.map((d) => Math.round(d)) },
    storeRequestsPerSecondPerReplica: rates.map((r) => Math.round(r * 100) / 100), idleSeconds: Math.round(secs),
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
} finally {
  for (const r of replicas) { await r.p.stop(); r.dir.remove(); }
  await receiver.close();
  await backend.close();
  files.remove();
}
