'use strict';

const USER_SCHEMA = {
  name: { type: 'string', required: true, min: 2 },
  age: { type: 'number', min: 0 },
};

const PRODUCT_SCHEMA = {
  sku: { type: 'string', required: true, min: 4 },
  price: { type: 'number', required: true, min: 1 },
};

// The error messages of obj against schema, in the schema's field order.
function validate(schema, obj) {
  const errors = [];
  for (const [field, rule] of Object.entries(schema)) {
    const value = obj[field];
    if (value === undefined) {
      if (rule.required) errors.push(`${field} is required`);
    } else if (typeof value !== rule.type) {
      errors.push(`${field} must be a ${rule.type}`);
    } else if (rule.min !== undefined) {
      const size = rule.type === 'string' ? value.length : value;
      if (size < rule.min) errors.push(`${field} must be at least ${rule.min}${rule.type === 'string' ? ' long' : ''}`);
    }
  }
  return errors;
}

const validateUser = (u) => validate(USER_SCHEMA, u);
const validateProduct = (p) => validate(PRODUCT_SCHEMA, p);

module.exports = { validate, validateUser, validateProduct, USER_SCHEMA, PRODUCT_SCHEMA };
