// The target health record behind the status page: state history and the recent errors list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Health, DOWN_AFTER } from '../../src/dispatch/health.js';

test('state changes are kept in order with the error that caused them; repeats of a state are not', () => {
  const h = new Health();
  h.reset(true);
  for (let i = 0; i < DOWN_AFTER + 2; i++) h.failure('retry', 'connect ECONNREFUSED', 5);
  h.success(3);
  assert.deepEqual(h.history.map((c) => [c.state, c.error]), [
    ['healthy', null], ['degraded', 'connect ECONNREFUSED'], ['down', 'connect ECONNREFUSED'], ['healthy', null],
  ]);
  for (const c of h.history) assert.ok(!Number.isNaN(Date.parse(c.at)), c.at);
});

test('recent errors: a repeat of the newest bumps its count and time, distinct errors are listed, at most 10 kept', () => {
  const h = new Health();
  h.reset(true);
  h.failure('retry', 'A', null);
  h.failure('retry', 'A', null);
  h.failure('unauthorized', 'B', null);
  h.failure('retry', 'A', null);
  assert.deepEqual(h.recentErrors.map((e) => [e.error, e.count]), [['A', 2], ['B', 1], ['A', 1]]);
  h.success(1);
  h.stalled(9000);
  assert.match(h.recentErrors.at(-1)!.error, /waiting for a reply for 9 s/);
  for (let i = 0; i < 25; i++) h.failure('retry', `E${i}`, null);
  assert.equal(h.recentErrors.length, 10);
  assert.equal(h.recentErrors[0]!.error, 'E15');
  assert.equal(h.recentErrors.at(-1)!.error, 'E24');
  // A success does not erase what went wrong: the page shows it with its time.
  h.success(1);
  assert.equal(h.recentErrors.length, 10);
});
