'use strict';
const test = require('node:test');
const assert = require('node:assert');
const v = require('../validators.js');

test('schemas exported', () => {
  assert.deepStrictEqual(v.USER_SCHEMA, {
    name: { type: 'string', required: true, min: 2 },
    age: { type: 'number', min: 0 },
  });
  assert.deepStrictEqual(v.PRODUCT_SCHEMA, {
    sku: { type: 'string', required: true, min: 4 },
    price: { type: 'number', required: true, min: 1 },
  });
});

test('validate with a new schema', () => {
  const schema = { title: { type: 'string', required: true, min: 3 }, pages: { type: 'number', min: 1 } };
  assert.deepStrictEqual(v.validate(schema, { title: 'Dune', pages: 412 }), []);
  assert.deepStrictEqual(v.validate(schema, { pages: 0 }),
    ['title is required', 'pages must be at least 1']);
  assert.deepStrictEqual(v.validate(schema, { title: 3 }), ['title must be a string']);
});
