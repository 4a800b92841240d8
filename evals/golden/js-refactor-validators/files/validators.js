'use strict';

function validateUser(u) {
  const errors = [];
  if (u.name === undefined) errors.push('name is required');
  else if (typeof u.name !== 'string') errors.push('name must be a string');
  else if (u.name.length < 2) errors.push('name must be at least 2 long');
  if (u.age !== undefined) {
    if (typeof u.age !== 'number') errors.push('age must be a number');
    else if (u.age < 0) errors.push('age must be at least 0');
  }
  return errors;
}

function validateProduct(p) {
  const errors = [];
  if (p.sku === undefined) errors.push('sku is required');
  else if (typeof p.sku !== 'string') errors.push('sku must be a string');
  else if (p.sku.length < 4) errors.push('sku must be at least 4 long');
  if (p.price === undefined) errors.push('price is required');
  else if (typeof p.price !== 'number') errors.push('price must be a number');
  else if (p.price < 1) errors.push('price must be at least 1');
  return errors;
}

module.exports = { validateUser, validateProduct };
