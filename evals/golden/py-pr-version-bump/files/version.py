"""Semantic-ish versions: MAJOR.MINOR.PATCH."""


def parse(version):
    """(major, minor, patch) of a version string."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError("not a version: %r" % (version,))
    return tuple(int(p) for p in parts)
