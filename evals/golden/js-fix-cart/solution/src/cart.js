'use strict';
const { COUPONS } = require('./coupons.js');

class Cart {
  constructor() {
    this.lines = new Map(); // sku -> { priceCents, qty }
    this.coupon = null;
  }

  add(sku, priceCents, qty = 1) {
    const line = this.lines.get(sku) || { priceCents, qty: 0 };
    line.qty += qty;
    this.lines.set(sku, line);
  }

  applyCoupon(code) {
    if (!COUPONS[code]) throw new Error(`unknown coupon ${code}`);
    this.coupon = COUPONS[code];
  }

  subtotalCents() {
    let sum = 0;
    for (const { priceCents, qty } of this.lines.values()) sum += priceCents * qty;
    return sum;
  }

  totalCents() {
    const sub = this.subtotalCents();
    if (!this.coupon) return sub;
    if (this.coupon.percent) return sub - Math.round((sub * this.coupon.percent) / 100);
    return Math.max(0, sub - this.coupon.amountCents);
  }
}

module.exports = { Cart };
