'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { deepMerge } = require('./merge.js');

test('nested objects merge', () => {
  assert.deepStrictEqual(deepMerge({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 4, e: 5 }, f: 6 }),
    { a: 1, b: { c: 2, d: 4, e: 5 }, f: 6 });
});

test('arrays and null replace', () => {
  assert.deepStrictEqual(deepMerge({ a: [1, 2], b: { x: 1 } }, { a: [3], b: null }),
    { a: [3], b: null });
});

test('inputs untouched', () => {
  const t = { a: { b: 1 } };
  const s = { a: { c: 2 } };
  const out = deepMerge(t, s);
  assert.deepStrictEqual(t, { a: { b: 1 } });
  assert.deepStrictEqual(s, { a: { c: 2 } });
  out.a.b = 9;
  assert.strictEqual(t.a.b, 1);
});
