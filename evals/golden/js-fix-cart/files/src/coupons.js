'use strict';

const COUPONS = {
  SAVE10: { percent: 10 },
  FIVEOFF: { amountCents: 500 },
};

module.exports = { COUPONS };
