import unittest

from textutil.slug import slugify
from textutil.titles import filename_for


class SlugTest(unittest.TestCase):
    def test_collapse(self):
        self.assertEqual(slugify("Hello,  World!"), "hello-world")
        self.assertEqual(slugify("  --Already-- slugged--  "), "already-slugged")

    def test_accents(self):
        self.assertEqual(slugify("Crème brûlée"), "creme-brulee")
        self.assertEqual(slugify("Ångström 2"), "angstrom-2")

    def test_filename(self):
        self.assertEqual(filename_for("Hello, World!"), "hello-world.md")
        self.assertEqual(filename_for("!!!"), "untitled.md")


if __name__ == "__main__":
    unittest.main()
