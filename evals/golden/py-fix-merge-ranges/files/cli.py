"""python3 cli.py 1-3 5-9 ... prints the merged ranges."""
import sys

from ranges import merge


def parse(arg):
    start, _, end = arg.partition("-")
    return int(start), int(end or start)


if __name__ == "__main__":
    print(" ".join("%d-%d" % r for r in merge(parse(a) for a in sys.argv[1:])))
