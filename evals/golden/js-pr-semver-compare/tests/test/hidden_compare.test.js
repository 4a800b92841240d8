'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { compare } = require('../semver.js');

test('numeric parts', () => {
  assert.strictEqual(compare('1.10.0', '1.9.0'), 1);
  assert.strictEqual(compare('1.2.3', '1.2.3'), 0);
  assert.strictEqual(compare('0.9.9', '1.0.0'), -1);
});

test('pre-releases', () => {
  assert.strictEqual(compare('1.0.0-alpha', '1.0.0'), -1);
  assert.strictEqual(compare('1.0.0', '1.0.0-rc'), 1);
  assert.strictEqual(compare('1.0.0-alpha', '1.0.0-beta'), -1);
  assert.strictEqual(compare('1.0.0-beta', '1.0.0-beta'), 0);
});
