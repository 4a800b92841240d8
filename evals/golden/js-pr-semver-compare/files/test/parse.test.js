'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { parse } = require('../semver.js');

test('parse', () => {
  assert.deepStrictEqual(parse('1.2.3-beta'), { major: 1, minor: 2, patch: 3, pre: 'beta' });
  assert.throws(() => parse('1.2'));
});
