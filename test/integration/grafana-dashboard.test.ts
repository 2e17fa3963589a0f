// The Grafana dashboard (deploy/grafana/s3-audit-proxy.json) against a REAL proxy process: S3
// requests through it, events delivered to the HEC receiver and the audit-log file, then /metrics
// scraped. The exposition is parsed strictly (every line a HELP, TYPE or sample of a declared
// family), every PromQL expression of the dashboard is parsed with Prometheus' own grammar
// (@prometheus-io/lezer-promql), and every metric a query names must be exported.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { parser } from '@prometheus-io/lezer-promql';
import { startBackend, bucketName, type TestBackend } from '../helpers/backend.js';
import { startHecReceiver, type HecReceiver } from '../helpers/hec-receiver.js';
import { spawnProxy, tempDir, type ChildProxy } from '../helpers/proxy.js';
import { s3Client } from '../helpers/s3.js';
import { adminCall, waitUntil } from '../helpers/admin.js';
import { projectRoot } from '../../src/paths.js';

const DASHBOARD = join(projectRoot(), 'deploy', 'grafana', 's3-audit-proxy.json');
const HEC_TOKEN = randomUUID().toUpperCase();
/** Exported only by `serve --workers N` (the pool's primary). */
const WORKER_POOL_ONLY = new Set(['s3ap_workers', 's3ap_worker_restarts_total']);

// ---- the exposition -------------------------------------------------------------------------

interface Exposition {
  /** Family name -> type. */
  families: Map<string, string>;
  /** Every sample name (a histogram's x_bucket, x_sum, x_count included). */
  samples: Set<string>;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const VALUE = '(?:[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|[-+]Inf|NaN)';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*)?\\})? ${VALUE}$`);
const TYPE_LINE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
const HELP_LINE = new RegExp(`^# HELP (${NAME}) .*$`);

/** Parses Prometheus text format 0.0.4; throws on the first line that is not valid. */
function parseExposition(text: string): Exposition {
  const families = new Map<string, string>();
  const samples = new Set<string>();
  let current: string | null = null;
  for (const [i, line] of text.split('\n').entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line === '') continue;
    if (line.startsWith('#')) {
      const t = TYPE_LINE.exec(line);
      if (t) {
        assert.ok(!families.has(t[1]!), `family declared twice, ${where}`);
        families.set(t[1]!, t[2]!);
        current = t[1]!;
      } else assert.match(line, HELP_LINE, where);
      continue;
    }
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a sample, ${where}`);
    const name = m[1]!;
    const type = current === null ? undefined : families.get(current);
    const ofFamily = name === current || (type === 'histogram' && [`${current}_bucket`, `${current}_sum`, `${current}_count`].includes(name));
    assert.ok(ofFamily, `sample outside its family (${current}), ${where}`);
    if (name.endsWith('_bucket') && type === 'histogram') assert.match(line, /[{,]le="[^"]+"/, `bucket without le, ${where}`);
    samples.add(name);
  }
  return { families, samples };
}

/** A name a query may use: a sample name, or a family declared with no sample yet (a counter with no label value seen). */
function exported(e: Exposition, name: string): boolean {
  if (e.samples.has(name) || e.families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && e.families.get(base) === 'histogram';
}

// ---- the dashboard --------------------------------------------------------------------------

interface Query { where: string; expr: string }

/** Every PromQL expression of the dashboard: panel targets and the variables' label_values(). */
function dashboardQueries(): Query[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }>; panels?: unknown[] }>;
    templating: { list: Array<{ name: string; query?: unknown }> };
  };
  const out: Query[] = [];
  for (const p of d.panels) for (const t of p.targets ?? []) out.push({ where: `panel "${p.title}"`, expr: t.expr });
  for (const v of d.templating.list) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    const lv = q ? /^label_values\((.+),\s*\w+\)$/.exec(q) : null;
    if (lv) out.push({ where: `variable $${v.name}`, expr: lv[1]! });
  }
  return out;
}

/** Grafana's variables replaced by values PromQL accepts. */
function substitute(expr: string): string {
  return expr.replace(/\$(?:__rate_interval|__interval|__range)\b/g, '5m').replace(/\$\{?(\w+)\}?/g, '.+');
}

/** The metric names an expression selects; throws when it does not parse. */
function metricNames(expr: string): string[] {
  const src = substitute(expr);
  const tree = parser.parse(src);
  const names: string[] = [];
  const errors: number[] = [];
  tree.iterate({
    enter(n) {
      if (n.type.isError) errors.push(n.from);
      if (n.name === 'Identifier' && n.node.parent?.name === 'VectorSelector') names.push(src.slice(n.from, n.to));
    },
  });
  if (errors.length > 0) throw new Error(`PromQL does not parse at ${errors[0]}: ${src}`);
  return names;
}

/** The queries' metric names that `e` does not export. */
function missing(e: Exposition, queries: Query[], allowed: ReadonlySet<string> = new Set()): string[] {
  const out: string[] = [];
  for (const q of queries) for (const n of metricNames(q.expr)) if (!exported(e, n) && !allowed.has(n)) out.push(`${n} (${q.where})`);
  return out;
}

// ---- the proxy ------------------------------------------------------------------------------

interface Env { backend: TestBackend; hec: HecReceiver; dir: { path: string; remove(): void }; proxy: ChildProxy; s3: S3Client }

async function start(extra: string[]): Promise<Env> {
  const backend = await startBackend();
  const hec = await startHecReceiver({ token: HEC_TOKEN });
  const dir = tempDir('s3ap-grafana-');
  const proxy = await spawnProxy(['--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--data-dir', dir.path, '--backend', backend.url,
    '--audit-log', join(dir.path, 'audit-log.jsonl'), ...extra], {}, 30_000);
  const s3 = s3Client(proxy.url, backend);
  return { backend, hec, dir, proxy, s3 };
}

async function stop(env: Env | undefined): Promise<void> {
  if (!env) return;
  env.s3.destroy();
  await env.proxy.stop('SIGTERM');
  await env.hec.close();
  await env.backend.close();
  env.dir.remove();
}

/** Enables the webhook, makes S3 requests (some failing), waits for their events, scrapes /metrics. */
async function trafficThenScrape(env: Env): Promise<{ text: string; exposition: Exposition }> {
  const token = readFileSync(join(env.dir.path, 'admin-token'), 'utf8').trim();
  const admin = env.proxy.adminUrl!;
  const en = await adminCall(admin, 'POST', '/api/v1/audit-webhook/enable', { token, body: { endpoint: env.hec.eventUrl, authToken: `Splunk ${HEC_TOKEN}`, batchMaxWaitMs: 50 } });
  assert.equal(en.status, 200, en.text);
  const bucket = bucketName('graf');
  await env.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (let i = 0; i < 5; i++) await env.s3.send(new PutObjectCommand({ Bucket: bucket, Key: `k${i}`, Body: `body ${i}` }));
  await (await env.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'k0' }))).Body!.transformToString();
  await env.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'k1' }));
  await assert.rejects(env.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'absent' })));
  const s3Events = (): number => (env.hec.events as Array<{ kind?: string }>).filter((e) => e.kind === 's3').length;
  await waitUntil(() => s3Events() >= 9, 20_000, 'the S3 events at the HEC receiver');
  let text = '';
  // Request metrics reach a --workers primary with the workers' next message (bounded wait).
  await waitUntil(async () => {
    text = (await adminCall(admin, 'GET', '/metrics')).text;
    return /^s3ap_requests_total\{api="GetObject",status_class="4xx"\} 1$/m.test(text) && /^s3ap_audit_batch_delivery_seconds_count [1-9]/m.test(text);
  }, 20_000, 'request and delivery metrics in /metrics');
  return { text, exposition: parseExposition(text) };
}

describe('Grafana dashboard', () => {
  test('the dashboard\'s queries parse as PromQL and name metrics; a query naming an unknown metric is caught', () => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 30, `${queries.length} queries`);
    const names = new Set(queries.flatMap((q) => metricNames(q.expr)));
    for (const n of ['s3ap_requests_total', 's3ap_request_duration_seconds_bucket', 's3ap_audit_events_enqueued_total', 's3ap_audit_events_delivered_total',
      's3ap_audit_events_dropped_total', 's3ap_audit_events_dead_lettered_total', 's3ap_audit_queue_bytes', 's3ap_audit_spool_bytes',
      's3ap_audit_delivery_latency_seconds_bucket', 's3ap_audit_batch_events_bucket', 's3ap_audit_batch_bytes_bucket', 's3ap_audit_target_up',
      'process_cpu_user_seconds_total', 'process_resident_memory_bytes']) {
      assert.ok(names.has(n), `the dashboard shows ${n}`);
    }
    assert.throws(() => metricNames('sum(rate(s3ap_requests_total[5m])'), /does not parse/);
    const e = parseExposition('# HELP s3ap_requests_total x\n# TYPE s3ap_requests_total counter\ns3ap_requests_total{api="GetObject"} 1\n');
    assert.deepEqual(missing(e, [{ where: 'probe', expr: 'rate(s3ap_requests_total[5m]) / rate(s3ap_nonexistent_total[5m])' }]), ['s3ap_nonexistent_total (probe)']);
    assert.throws(() => parseExposition('s3ap_requests_total 1\n'), /sample outside its family/);
  });

  describe('one process', () => {
    let env: Env | undefined;
    before(async () => { env = await start([]); });
    after(() => stop(env));
    test('every metric the dashboard names is exported, but the --workers pool\'s', async () => {
      const { exposition } = await trafficThenScrape(env!);
      assert.deepEqual(missing(exposition, dashboardQueries(), WORKER_POOL_ONLY), []);
      for (const n of WORKER_POOL_ONLY) assert.ok(!exported(exposition, n), `${n} only with --workers`);
    });
  });

  describe('--workers 2', () => {
    let env: Env | undefined;
    before(async () => { env = await start(['--workers', '2']); });
    after(() => stop(env));
    test('every metric the dashboard names is exported', async () => {
      const { exposition, text } = await trafficThenScrape(env!);
      assert.deepEqual(missing(exposition, dashboardQueries()), []);
      assert.match(text, /^s3ap_workers 2$/m);
      assert.match(text, /^s3ap_request_duration_seconds_count\{api="PutObject"\} 5$/m, 'the workers\' request metrics, merged in the primary');
    });
  });
});
