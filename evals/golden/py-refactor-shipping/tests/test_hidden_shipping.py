import unittest

import shipping


class TableTest(unittest.TestCase):
    def test_table(self):
        self.assertEqual(shipping.RATES, {"domestic": (500, 900, 150),
                                          "europe": (1200, 2000, 300),
                                          "world": (2000, 3500, 500)})

    def test_new_zone_is_one_entry(self):
        shipping.RATES["nordic"] = (800, 1500, 250)
        try:
            self.assertEqual(shipping.shipping_cost("nordic", 1), 800)
            self.assertEqual(shipping.shipping_cost("nordic", 6.5), 2000)
        finally:
            del shipping.RATES["nordic"]

    def test_unknown_named(self):
        with self.assertRaisesRegex(ValueError, "moon"):
            shipping.shipping_cost("moon", 1)


if __name__ == "__main__":
    unittest.main()
