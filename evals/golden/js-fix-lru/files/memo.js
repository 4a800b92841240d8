'use strict';
const { LRUCache } = require('./lru.js');

// fn memoised on its first argument, keeping the capacity most recent results
function memo(fn, capacity = 100) {
  const cache = new LRUCache(capacity);
  return (arg) => {
    if (!cache.has(arg)) cache.set(arg, fn(arg));
    return cache.get(arg);
  };
}

module.exports = { memo };
