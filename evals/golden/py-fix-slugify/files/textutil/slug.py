import re


def slugify(title):
    """A URL slug of title."""
    return re.sub(r"[^a-z0-9]", "-", title.lower())
