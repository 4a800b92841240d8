"""Semantic-ish versions: MAJOR.MINOR.PATCH."""

PARTS = ("major", "minor", "patch")


def parse(version):
    """(major, minor, patch) of a version string."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError("not a version: %r" % (version,))
    return tuple(int(p) for p in parts)


def bump(version, part):
    """The version after bumping part (major, minor or patch)."""
    if part not in PARTS:
        raise ValueError("part must be one of %s, not %r" % (", ".join(PARTS), part))
    numbers = list(parse(version))
    i = PARTS.index(part)
    numbers[i] += 1
    numbers[i + 1:] = [0] * (2 - i)
    return ".".join(str(n) for n in numbers)
