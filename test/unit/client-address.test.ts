import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TrustedProxies } from '../../src/audit/client-address.js';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { ConfigError } from '../../src/errors.js';

test('only the configured forwarding header is believed, and only from a trusted peer', () => {
  const xff = new TrustedProxies(['10.0.0.0/8']);
  const both = { forwarded: 'for=6.6.6.6', 'x-forwarded-for': '203.0.113.9, 10.0.0.7' };
  assert.deepEqual(xff.clientAddress('10.0.0.1', both), { ip: '203.0.113.9', peerIp: '10.0.0.1' });
  assert.deepEqual(xff.clientAddress('10.0.0.1', { forwarded: 'for=6.6.6.6' }), { ip: '10.0.0.1', peerIp: null });
  assert.deepEqual(xff.clientAddress('192.0.2.1', both), { ip: '192.0.2.1', peerIp: null });
  const fwd = new TrustedProxies(['10.0.0.0/8'], 'forwarded');
  assert.deepEqual(fwd.clientAddress('10.0.0.1', both), { ip: '6.6.6.6', peerIp: '10.0.0.1' });
  assert.deepEqual(fwd.clientAddress('10.0.0.1', { 'x-forwarded-for': '6.6.6.6' }), { ip: '10.0.0.1', peerIp: null });
  assert.deepEqual(fwd.clientAddress('::ffff:10.0.0.1', { forwarded: 'for="[2001:db8::1]:80", for=10.0.0.3' }), { ip: '2001:db8::1', peerIp: '::ffff:10.0.0.1' });
});

test('--trusted-proxy-header: x-forwarded-for by default, forwarded, anything else refused', () => {
  assert.equal(loadServeConfig([], {}).trustedProxyHeader, 'x-forwarded-for');
  assert.equal(loadServeConfig(['--trusted-proxy-header', 'Forwarded'], {}).trustedProxyHeader, 'forwarded');
  assert.equal(loadServeConfig([], { S3AP_TRUSTED_PROXY_HEADER: 'forwarded' }).trustedProxyHeader, 'forwarded');
  assert.throws(() => loadServeConfig(['--trusted-proxy-header', 'x-real-ip'], {}), (e: unknown) => e instanceof ConfigError && /trusted-proxy-header/.test(String((e as Error).message) + String((e as ConfigError & { setting?: string }).setting)));
});
