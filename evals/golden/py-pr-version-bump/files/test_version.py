import unittest

from version import parse


class ParseTest(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(parse("1.4.2"), (1, 4, 2))

    def test_bad(self):
        with self.assertRaises(ValueError):
            parse("1.4")


if __name__ == "__main__":
    unittest.main()
