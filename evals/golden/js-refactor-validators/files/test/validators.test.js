'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { validateUser, validateProduct } = require('../validators.js');

test('users', () => {
  assert.deepStrictEqual(validateUser({ name: 'Ada', age: 36 }), []);
  assert.deepStrictEqual(validateUser({}), ['name is required']);
  assert.deepStrictEqual(validateUser({ name: 'A', age: -1 }),
    ['name must be at least 2 long', 'age must be at least 0']);
  assert.deepStrictEqual(validateUser({ name: 7, age: 'x' }),
    ['name must be a string', 'age must be a number']);
});

test('products', () => {
  assert.deepStrictEqual(validateProduct({ sku: 'AB-12', price: 5 }), []);
  assert.deepStrictEqual(validateProduct({ sku: 'AB', price: 0 }),
    ['sku must be at least 4 long', 'price must be at least 1']);
  assert.deepStrictEqual(validateProduct({}), ['sku is required', 'price is required']);
});
