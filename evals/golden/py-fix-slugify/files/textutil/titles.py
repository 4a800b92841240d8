from textutil.slug import slugify


def filename_for(title, ext="md"):
    """The file name a post of this title is stored under."""
    return "%s.%s" % (slugify(title) or "untitled", ext)
