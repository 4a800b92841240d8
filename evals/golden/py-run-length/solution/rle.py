import itertools
import re


def encode(text):
    out = []
    for ch, run in itertools.groupby(text):
        n = len(list(run))
        out.append((str(n) if n > 1 else "") + ch)
    return "".join(out)


def decode(text):
    return "".join(ch * int(n or 1) for n, ch in re.findall(r"(\d*)(\D)", text))
