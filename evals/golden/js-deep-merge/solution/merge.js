'use strict';

function isPlain(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function copy(v) {
  return isPlain(v) ? deepMerge({}, v) : Array.isArray(v) ? v.slice() : v;
}

function deepMerge(target, source) {
  const out = {};
  for (const [k, v] of Object.entries(target)) out[k] = copy(v);
  for (const [k, v] of Object.entries(source)) {
    out[k] = isPlain(out[k]) && isPlain(v) ? deepMerge(out[k], v) : copy(v);
  }
  return out;
}

module.exports = { deepMerge };
