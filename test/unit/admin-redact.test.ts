// How tokens are shown: scheme + "****" + last 4 of a long secret; short secrets fully masked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MIN_REVEAL_LENGTH, redactToken, scrub, splitToken } from '../../src/admin/redact.js';

test('Weka example token: scheme kept, last four characters shown', () => {
  assert.equal(redactToken('Splunk B5A79AAD-D822-46CC-80D1-819F80D7BFB0'), 'Splunk ****BFB0');
  assert.equal(redactToken('  Splunk   B5A79AAD-D822-46CC-80D1-819F80D7BFB0  '), 'Splunk ****BFB0');
  assert.equal(redactToken('Bearer abcdefghijklmnopqrstuvwxyz'), 'Bearer ****wxyz');
});

test('bare tokens: "****" and the last four; short ones fully masked', () => {
  assert.equal(redactToken('B5A79AAD-D822-46CC-80D1-819F80D7BFB0'), '****BFB0');
  assert.equal(redactToken('short'), '****');
  assert.equal(redactToken('Splunk short'), 'Splunk ****');
  assert.equal(redactToken('x'.repeat(MIN_REVEAL_LENGTH - 1)), '****');
  assert.equal(redactToken(null), null);
  assert.equal(redactToken(undefined), null);
});

test('splitToken separates an HTTP auth scheme from the credentials', () => {
  assert.deepEqual(splitToken('Splunk abc'), { scheme: 'Splunk', secret: 'abc' });
  assert.deepEqual(splitToken('abc'), { scheme: null, secret: 'abc' });
});

test('property: the redacted form never contains the secret, and reveals at most 4 of its characters', () => {
  const tokenChars = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/='.split(''));
  fc.assert(fc.property(
    fc.option(fc.constantFrom('Splunk', 'Bearer', 'Basic'), { nil: undefined }),
    fc.array(tokenChars, { minLength: 5, maxLength: 200 }).map((a) => a.join('')),
    (scheme, secret) => {
      const token = scheme ? `${scheme} ${secret}` : secret;
      const shown = redactToken(token)!;
      assert.ok(!shown.includes(secret), `${shown} reveals ${secret}`);
      const revealed = shown.replace(/^\S+ /, '').replace('****', '');
      assert.ok(revealed.length <= 4);
      if (secret.length < MIN_REVEAL_LENGTH) assert.equal(revealed, '');
      else assert.equal(revealed, secret.slice(-4));
    },
  ), { numRuns: 500 });
});

test('scrub removes the whole token and its secret part from free text', () => {
  const tok = 'Splunk B5A79AAD-D822-46CC-80D1-819F80D7BFB0';
  assert.equal(scrub(`got ${tok} and B5A79AAD-D822-46CC-80D1-819F80D7BFB0`, tok), 'got [REDACTED] and [REDACTED]');
  assert.equal(scrub('nothing here', tok, null, undefined), 'nothing here');
});
