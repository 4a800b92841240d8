"""Inclusive integer ranges."""


def merge(ranges):
    """The sorted, disjoint ranges covering every number of ranges."""
    out = []
    for start, end in ranges:
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def total(ranges):
    """How many numbers the ranges cover."""
    return sum(end - start + 1 for start, end in merge(ranges))
