'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { parseQuery } = require('./query.js');

test('pairs', () => {
  assert.deepStrictEqual(parseQuery('?a=1&b=two'), { a: '1', b: 'two' });
});

test('repeats become arrays', () => {
  assert.deepStrictEqual(parseQuery('a=1&b=2&a=3&a=4'), { a: ['1', '3', '4'], b: '2' });
});

test('decoding', () => {
  assert.deepStrictEqual(parseQuery('q=hello+world&x%20y=%C3%A9t%C3%A9'), { q: 'hello world', 'x y': 'été' });
});

test('bare keys and empties', () => {
  assert.deepStrictEqual(parseQuery(''), {});
  assert.deepStrictEqual(parseQuery('flag&&v=1'), { flag: '', v: '1' });
});
