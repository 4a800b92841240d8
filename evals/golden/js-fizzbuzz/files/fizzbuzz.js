'use strict';

function fizzbuzz(n) {
  throw new Error('not implemented');
}

module.exports = { fizzbuzz };
