'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { Cart } = require('../src/cart.js');

test('percent coupon', () => {
  const c = new Cart();
  c.add('lamp', 5000);
  c.applyCoupon('SAVE10');
  assert.strictEqual(c.totalCents(), 4500);
});

test('percent coupon rounds to the cent', () => {
  const c = new Cart();
  c.add('clip', 333);
  c.applyCoupon('SAVE10');
  assert.strictEqual(c.totalCents(), 300);
});

test('amount coupon never below zero', () => {
  const c = new Cart();
  c.add('gum', 300);
  c.applyCoupon('FIVEOFF');
  assert.strictEqual(c.totalCents(), 0);
});
