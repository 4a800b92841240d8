import unittest

from rle import decode, encode


class RleTest(unittest.TestCase):
    def test_encode(self):
        self.assertEqual(encode(""), "")
        self.assertEqual(encode("AAABCC"), "3AB2C")
        self.assertEqual(encode("  hsqq qww  "), "2 hs2q q2w2 ")
        self.assertEqual(encode("abc"), "abc")

    def test_decode(self):
        self.assertEqual(decode(""), "")
        self.assertEqual(decode("12WB"), "W" * 12 + "B")
        self.assertEqual(decode("3AB2C"), "AAABCC")

    def test_round_trip(self):
        for text in ("zzz ZZ  zZ", "a", "xxxxxxxxxxxxxxxxxxxxxxxxxxy"):
            self.assertEqual(decode(encode(text)), text)


if __name__ == "__main__":
    unittest.main()
