import unittest

from reverse_string import reverse


class ReverseStringTest(unittest.TestCase):
    def test_empty(self):
        self.assertEqual(reverse(""), "")

    def test_word(self):
        self.assertEqual(reverse("stressed"), "desserts")

    def test_sentence(self):
        self.assertEqual(reverse("I'm hungry!"), "!yrgnuh m'I")

    def test_non_ascii(self):
        self.assertEqual(reverse("été"), "été"[::-1])
        self.assertEqual(reverse("añb"), "bña")


if __name__ == "__main__":
    unittest.main()
