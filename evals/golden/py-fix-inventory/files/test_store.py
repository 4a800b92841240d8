import unittest

from inventory.store import Store


class StoreTest(unittest.TestCase):
    def test_add(self):
        s = Store()
        s.add("bolt", 3, 25)
        s.add("bolt", 2, 30)
        self.assertEqual(s.quantity("bolt"), 5)
        self.assertEqual(s.value_cents(), 150)

    def test_add_refuses_nothing(self):
        with self.assertRaises(ValueError):
            Store().add("nut", 0, 10)


if __name__ == "__main__":
    unittest.main()
