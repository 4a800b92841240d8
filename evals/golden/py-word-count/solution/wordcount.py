import re

WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def count_words(text):
    """Each lower-cased word of text with how often it occurs."""
    counts = {}
    for word in WORD.findall(text.lower()):
        counts[word] = counts.get(word, 0) + 1
    return counts
