'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Cart } = require('../src/cart.js');

test('subtotal adds lines', () => {
  const c = new Cart();
  c.add('pen', 150, 2);
  c.add('pad', 400);
  c.add('pen', 150);
  assert.strictEqual(c.subtotalCents(), 850);
  assert.strictEqual(c.totalCents(), 850);
});

test('unknown coupon', () => {
  assert.throws(() => new Cart().applyCoupon('FREE'));
});
