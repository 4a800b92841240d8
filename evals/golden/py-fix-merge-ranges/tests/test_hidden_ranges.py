import unittest

from ranges import merge, total


class MergeTest(unittest.TestCase):
    def test_contained(self):
        self.assertEqual(merge([(1, 10), (2, 3)]), [(1, 10)])

    def test_unsorted(self):
        self.assertEqual(merge([(5, 6), (1, 2)]), [(1, 2), (5, 6)])

    def test_touching(self):
        self.assertEqual(merge([(4, 6), (1, 3)]), [(1, 6)])

    def test_empty_and_total(self):
        self.assertEqual(merge([]), [])
        self.assertEqual(total([(1, 10), (2, 3), (20, 20)]), 11)


if __name__ == "__main__":
    unittest.main()
