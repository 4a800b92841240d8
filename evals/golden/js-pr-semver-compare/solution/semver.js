'use strict';

// { major, minor, patch, pre } of "MAJOR.MINOR.PATCH[-PRE]"
function parse(version) {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/.exec(version);
  if (!m) throw new Error(`not a version: ${version}`);
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), pre: m[4] || null };
}

const sign = (x) => (x < 0 ? -1 : x > 0 ? 1 : 0);

// -1, 0 or 1 as a is lower than, equal to or higher than b
function compare(a, b) {
  const x = parse(a);
  const y = parse(b);
  for (const k of ['major', 'minor', 'patch']) {
    if (x[k] !== y[k]) return sign(x[k] - y[k]);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === null) return 1;
  if (y.pre === null) return -1;
  return x.pre < y.pre ? -1 : 1;
}

module.exports = { parse, compare };
