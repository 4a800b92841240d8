import unittest

from wordcount import count_words


class WordCountTest(unittest.TestCase):
    def test_repeats(self):
        self.assertEqual(count_words("one fish two fish"), {"one": 1, "fish": 2, "two": 1})

    def test_case_and_punctuation(self):
        self.assertEqual(count_words("Hello, hello! HELLO?"), {"hello": 3})

    def test_apostrophes(self):
        self.assertEqual(count_words("don't stop 'quoted' words"),
                         {"don't": 1, "stop": 1, "quoted": 1, "words": 1})

    def test_digits(self):
        self.assertEqual(count_words("1 2 2 b4"), {"1": 1, "2": 2, "b4": 1})

    def test_empty(self):
        self.assertEqual(count_words(""), {})
        self.assertEqual(count_words(" ,;! "), {})


if __name__ == "__main__":
    unittest.main()
