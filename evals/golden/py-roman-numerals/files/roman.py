def to_roman(n):
    raise NotImplementedError("to_roman")


def from_roman(text):
    raise NotImplementedError("from_roman")
