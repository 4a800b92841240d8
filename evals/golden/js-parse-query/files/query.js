'use strict';

function parseQuery(text) {
  throw new Error('not implemented');
}

module.exports = { parseQuery };
