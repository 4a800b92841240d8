"""Shipping prices in cents."""
import math

# zone -> (up to 1 kg, up to 5 kg, each started kg past 5)
RATES = {
    "domestic": (500, 900, 150),
    "europe": (1200, 2000, 300),
    "world": (2000, 3500, 500),
}


def shipping_cost(zone, weight_kg):
    if zone not in RATES:
        raise ValueError("unknown zone: %s" % zone)
    light, medium, per_kg = RATES[zone]
    if weight_kg <= 1:
        return light
    if weight_kg <= 5:
        return medium
    return medium + per_kg * math.ceil(weight_kg - 5)
