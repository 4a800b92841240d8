import unittest

from version import bump


class BumpTest(unittest.TestCase):
    def test_parts(self):
        self.assertEqual(bump("1.4.2", "patch"), "1.4.3")
        self.assertEqual(bump("1.4.2", "minor"), "1.5.0")
        self.assertEqual(bump("1.4.2", "major"), "2.0.0")

    def test_bad_part(self):
        with self.assertRaises(ValueError):
            bump("1.4.2", "build")


if __name__ == "__main__":
    unittest.main()
