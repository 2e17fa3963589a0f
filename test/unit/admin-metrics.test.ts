// Request metrics: per API name and status class, with bounded label values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { apiLabel, ProcessMetrics, RequestMetrics, statusClass } from '../../src/admin/metrics.js';
import { API_LEVEL } from '../../src/s3/index.js';

test('status classes', () => {
  assert.deepEqual([200, 204, 301, 304, 400, 403, 404, 499, 500, 503, 599, 0, 100, 600].map(statusClass),
    ['2xx', '2xx', '3xx', '3xx', '4xx', '4xx', '4xx', '4xx', '5xx', '5xx', '5xx', 'other', 'other', 'other']);
});

test('counts by API and status class, latency histogram by API, in Prometheus text', async () => {
  const m = new RequestMetrics();
  m.observe('PutObject', 200, 'completed', 12);
  m.observe('PutObject', 200, 'completed', 1500);
  m.observe('GetObject', 404, 'completed', 3);
  m.observe('GetObject', 503, 'backend-unreachable', 3);
  assert.equal(m.count('PutObject', '2xx'), 2);
  const text = await m.render();
  assert.match(text, /^s3ap_requests_total\{api="PutObject",status_class="2xx"\} 2$/m);
  assert.match(text, /^s3ap_requests_total\{api="GetObject",status_class="4xx"\} 1$/m);
  assert.match(text, /^s3ap_requests_total\{api="GetObject",status_class="5xx"\} 1$/m);
  assert.match(text, /^s3ap_request_outcomes_total\{outcome="backend-unreachable"\} 1$/m);
  assert.match(text, /^s3ap_request_duration_seconds_bucket\{api="PutObject",le="0.025"\} 1$/m);
  assert.match(text, /^s3ap_request_duration_seconds_bucket\{api="PutObject",le="\+Inf"\} 2$/m);
  assert.match(text, /^s3ap_request_duration_seconds_count\{api="PutObject"\} 2$/m);
  assert.match(text, /^s3ap_request_duration_seconds_sum\{api="PutObject"\} 1.512$/m);
  assert.match(text, /^# TYPE s3ap_request_duration_seconds histogram$/m);
});

test('property: label cardinality is capped: any API name outside the classifier table becomes "Unknown"', async () => {
  const m = new RequestMetrics();
  fc.assert(fc.property(fc.string(), fc.integer({ min: 0, max: 999 }), fc.string(), (name, status, outcome) => {
    m.observe(name, status, outcome, 1);
    assert.ok(API_LEVEL.has(apiLabel(name)) || apiLabel(name) === 'Unknown');
  }), { numRuns: 1000 });
  const apis = new Set<string>();
  const classes = new Set<string>();
  const outcomes = new Set<string>();
  for (const line of (await m.render()).split('\n')) {
    const a = /api="([^"]*)"/.exec(line);
    if (a) apis.add(a[1]!);
    const c = /status_class="([^"]*)"/.exec(line);
    if (c) classes.add(c[1]!);
    const o = /outcome="([^"]*)"/.exec(line);
    if (o) outcomes.add(o[1]!);
  }
  assert.ok(apis.size <= API_LEVEL.size + 1);
  assert.ok(classes.size <= 5);
  assert.ok(outcomes.size <= 7, `known outcomes and "other": ${[...outcomes].join(", ")}`);
});

test('process metrics render', async () => {
  const p = new ProcessMetrics();
  const text = await p.render();
  p.stop();
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_delay_p99_seconds', 'process_uptime_seconds']) {
    assert.match(text, new RegExp(`^${name} [0-9.e+-]+$`, 'm'), name);
  }
});
