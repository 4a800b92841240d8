import unittest

from shipping import shipping_cost


class ShippingTest(unittest.TestCase):
    def test_light(self):
        self.assertEqual(shipping_cost("domestic", 0.5), 500)
        self.assertEqual(shipping_cost("europe", 1), 1200)

    def test_medium(self):
        self.assertEqual(shipping_cost("world", 3), 3500)

    def test_heavy(self):
        self.assertEqual(shipping_cost("domestic", 7.2), 900 + 150 * 3)
        self.assertEqual(shipping_cost("world", 6), 4000)

    def test_unknown(self):
        with self.assertRaises(ValueError):
            shipping_cost("moon", 1)


if __name__ == "__main__":
    unittest.main()
