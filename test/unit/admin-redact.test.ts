// How tokens are shown: scheme + "****" + last 4 of a long secret; short secrets fully masked.
import { summarize } from '../../src/cli/audit-webhook-show.js';
import { printable } from '../../src/cli/terminal-output.js';
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

test('a token with an inner space that is not a known scheme keeps nothing of either part', () => {
  assert.equal(redactToken('secretword more'), '****');
  assert.equal(redactToken('secretword moresecretmoresecret'), '****cret');
  assert.ok(!redactToken('hunter2 B5A79AAD-D822-46CC-80D1-819F80D7BFB0')!.includes('hunter2'));
  assert.equal(redactToken('bearer abcdefghijklmnopqrstuvwxyz'), 'bearer ****wxyz', 'known schemes in any case');
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

test('receiver text printed by the CLI cannot drive the terminal: control characters and line separators are escaped', () => {
  const reply = 'ok\u001b[2J\u001b]0;pwned\u0007\r\nfake line\u2028x\u0085y\tz';
  const shown = printable(reply);
  assert.doesNotMatch(shown, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  assert.equal(shown, 'ok\\x1b[2J\\x1b]0;pwned\\x07\\r\\nfake line\\u2028x\\x85y\\tz');
  const doc = { enabled: true, endpoint: 'http://h/', authToken: '****', format: 'ndjson', status: { state: 'down', lastError: 'HTTP 500: \u001b[31mred\nforged: line' } };
  const text = summarize(doc);
  assert.ok(!text.includes('\u001b'), 'no escape sequence reaches the terminal');
  assert.match(text, /last error +HTTP 500: \\x1b\[31mred\\nforged: line/);
});
