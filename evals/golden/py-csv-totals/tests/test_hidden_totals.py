import unittest

from totals import column_totals


class TotalsTest(unittest.TestCase):
    def test_numbers(self):
        self.assertEqual(column_totals("a,b\n1,2\n3,4\n"), {"a": 4, "b": 6})

    def test_text_column_left_out(self):
        self.assertEqual(column_totals("name,qty\nfoo,2\nbar,5\n"), {"qty": 7})

    def test_floats_and_negatives(self):
        got = column_totals("x\n1.5\n-0.25\n2\n")
        self.assertAlmostEqual(got["x"], 3.25)

    def test_quoted_and_empty(self):
        got = column_totals('label,n\n"1,5",\n"x",4\n')
        self.assertEqual(got, {"n": 4})

    def test_header_only(self):
        self.assertEqual(column_totals("a,b\n"), {"a": 0, "b": 0})


if __name__ == "__main__":
    unittest.main()
