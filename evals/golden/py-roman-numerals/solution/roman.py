VALUES = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
          (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def to_roman(n):
    if not isinstance(n, int) or not 1 <= n <= 3999:
        raise ValueError("roman numerals cover 1..3999, not %r" % (n,))
    out = []
    for value, letters in VALUES:
        while n >= value:
            out.append(letters)
            n -= value
    return "".join(out)


def from_roman(text):
    total, i = 0, 0
    for value, letters in VALUES:
        while text.startswith(letters, i):
            total += value
            i += len(letters)
    if i != len(text) or not 1 <= total <= 3999 or to_roman(total) != text:
        raise ValueError("not a roman numeral: %r" % (text,))
    return total
