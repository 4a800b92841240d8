'use strict';

class LRUCache {
  constructor(capacity) {
    if (!(capacity > 0)) throw new RangeError('capacity must be positive');
    this.capacity = capacity;
    this.map = new Map(); // insertion order: oldest first
  }

  get(key) {
    return this.map.get(key);
  }

  set(key, value) {
    if (this.map.size >= this.capacity) {
      this.map.delete(this.map.keys().next().value);
    }
    this.map.set(key, value);
  }

  has(key) {
    return this.map.has(key);
  }

  get size() {
    return this.map.size;
  }
}

module.exports = { LRUCache };
