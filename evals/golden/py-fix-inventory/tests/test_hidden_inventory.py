import unittest

from inventory.report import report
from inventory.store import OutOfStock, Store


class InventoryTest(unittest.TestCase):
    def test_remove_within_stock(self):
        s = Store()
        s.add("gear", 3, 100)
        s.remove("gear", 2)
        self.assertEqual(s.quantity("gear"), 1)

    def test_remove_too_many(self):
        s = Store()
        s.add("gear", 3, 100)
        with self.assertRaises(OutOfStock):
            s.remove("gear", 5)
        self.assertEqual(s.quantity("gear"), 3)

    def test_report_two_decimals(self):
        s = Store()
        s.add("spring", 2, 1250)
        s.add("cog", 1, 300)
        self.assertEqual(report(s), "cog x1 @ 3.00\nspring x2 @ 12.50\ntotal 28.00")


if __name__ == "__main__":
    unittest.main()
