'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { formatCents } = require('./out/money.js');
const { invoiceText } = require('./out/invoice.js');

test('small amounts', () => {
  assert.strictEqual(formatCents(5, 'EUR'), 'EUR 0.05');
  assert.strictEqual(formatCents(100, 'EUR'), 'EUR 1.00');
});

test('negative amounts', () => {
  assert.strictEqual(formatCents(-150, 'USD'), '-USD 1.50');
});

test('thousands', () => {
  assert.strictEqual(formatCents(123456789, 'USD'), 'USD 1,234,567.89');
});

test('invoice', () => {
  assert.strictEqual(invoiceText([{ label: 'tea', cents: 250 }, { label: 'cake', cents: 305 }], 'GBP'),
    'tea: GBP 2.50\ncake: GBP 3.05\ntotal: GBP 5.55');
});
