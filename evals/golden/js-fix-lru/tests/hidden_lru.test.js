'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { LRUCache } = require('./lru.js');
const { memo } = require('./memo.js');

test('get refreshes', () => {
  const c = new LRUCache(2);
  c.set('a', 1);
  c.set('b', 2);
  assert.strictEqual(c.get('a'), 1);
  c.set('c', 3);
  assert.ok(c.has('a'));
  assert.ok(!c.has('b'));
});

test('updating a key evicts nothing', () => {
  const c = new LRUCache(2);
  c.set('a', 1);
  c.set('b', 2);
  c.set('b', 3);
  assert.strictEqual(c.size, 2);
  assert.strictEqual(c.get('a'), 1);
  assert.strictEqual(c.get('b'), 3);
});

test('memo still memoises', () => {
  let calls = 0;
  const sq = memo((x) => { calls++; return x * x; }, 2);
  assert.strictEqual(sq(3), 9);
  assert.strictEqual(sq(3), 9);
  assert.strictEqual(calls, 1);
});
