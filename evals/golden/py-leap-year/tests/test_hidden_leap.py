import unittest

from leap import is_leap


class LeapTest(unittest.TestCase):
    def test_ordinary_years(self):
        self.assertFalse(is_leap(2023))
        self.assertFalse(is_leap(1999))

    def test_divisible_by_four(self):
        self.assertTrue(is_leap(2024))
        self.assertTrue(is_leap(1996))

    def test_centuries(self):
        self.assertFalse(is_leap(1900))
        self.assertFalse(is_leap(2100))

    def test_four_centuries(self):
        self.assertTrue(is_leap(2000))
        self.assertTrue(is_leap(2400))


if __name__ == "__main__":
    unittest.main()
