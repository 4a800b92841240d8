'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Stack } = require('./out/stack.js');

test('push, peek, pop', () => {
  const s = new Stack();
  assert.strictEqual(s.pop(), undefined);
  assert.strictEqual(s.peek(), undefined);
  s.push(1);
  s.push(2);
  assert.strictEqual(s.peek(), 2);
  assert.strictEqual(s.size, 2);
  assert.strictEqual(s.pop(), 2);
  assert.strictEqual(s.size, 1);
});

test('toArray is a copy, bottom first', () => {
  const s = new Stack();
  s.push('a');
  s.push('b');
  const items = s.toArray();
  assert.deepStrictEqual(items, ['a', 'b']);
  items.push('c');
  assert.strictEqual(s.size, 2);
});
