'use strict';
const test = require('node:test');
const assert = require('node:assert');
const { fizzbuzz } = require('./fizzbuzz.js');

test('first fifteen', () => {
  assert.deepStrictEqual(fizzbuzz(15), ['1', '2', 'Fizz', '4', 'Buzz', 'Fizz', '7', '8',
    'Fizz', 'Buzz', '11', 'Fizz', '13', '14', 'FizzBuzz']);
});

test('zero', () => {
  assert.deepStrictEqual(fizzbuzz(0), []);
});

test('bad input', () => {
  assert.throws(() => fizzbuzz(-1), RangeError);
  assert.throws(() => fizzbuzz(2.5), RangeError);
});
