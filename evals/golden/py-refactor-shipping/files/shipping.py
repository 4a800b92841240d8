"""Shipping prices in cents."""
import math


def shipping_cost(zone, weight_kg):
    if zone == "domestic":
        if weight_kg <= 1:
            return 500
        elif weight_kg <= 5:
            return 900
        else:
            return 900 + 150 * math.ceil(weight_kg - 5)
    elif zone == "europe":
        if weight_kg <= 1:
            return 1200
        elif weight_kg <= 5:
            return 2000
        else:
            return 2000 + 300 * math.ceil(weight_kg - 5)
    elif zone == "world":
        if weight_kg <= 1:
            return 2000
        elif weight_kg <= 5:
            return 3500
        else:
            return 3500 + 500 * math.ceil(weight_kg - 5)
    else:
        raise ValueError("unknown zone: %s" % zone)
