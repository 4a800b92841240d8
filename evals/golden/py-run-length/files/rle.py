def encode(text):
    raise NotImplementedError("encode")


def decode(text):
    raise NotImplementedError("decode")
