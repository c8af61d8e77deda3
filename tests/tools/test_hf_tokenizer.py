"""tools/hf_tokenizer.py: the directories have the structure of real Llama 3 / Qwen2 tokenizer
files, and the reference encoder cuts and merges as the `tokenizers` library does (expected
values written out here by hand, not derived from the script's own tables)."""
import json
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, TOOLS

import hf_tokenizer

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")


def write(layout, out):
    subprocess.run([PYTHON, str(TOOLS / "hf_tokenizer.py"), "write", "--layout", layout, "--out", str(out), "--reference"],
                   check=True)
    return (json.loads((out / name).read_text(encoding="utf-8"))
            for name in ("tokenizer.json", "tokenizer_config.json", "reference.json"))


class Layouts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.temp = tempfile.TemporaryDirectory()
        root = Path(cls.temp.name)
        cls.llama3, cls.llama3_config, cls.llama3_reference = write("llama3", root / "llama3")
        cls.qwen2, cls.qwen2_config, cls.qwen2_reference = write("qwen2", root / "qwen2")

    @classmethod
    def tearDownClass(cls):
        cls.temp.cleanup()

    def test_pre_tokenizers_are_the_real_split_and_byte_level(self):
        for tokenizer, regex in ((self.llama3, LLAMA3_REGEX), (self.qwen2, QWEN2_REGEX)):
            steps = tokenizer["pre_tokenizer"]["pretokenizers"]
            self.assertEqual(tokenizer["pre_tokenizer"]["type"], "Sequence")
            self.assertEqual(steps[0], {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False})
            self.assertEqual((steps[1]["type"], steps[1]["add_prefix_space"], steps[1]["use_regex"]), ("ByteLevel", False, False))
            self.assertEqual(tokenizer["decoder"]["type"], "ByteLevel")
        self.assertIsNone(self.llama3["normalizer"])
        self.assertEqual(self.qwen2["normalizer"], {"type": "NFC"})

    def test_vocabulary_holds_the_byte_symbols_first_and_ids_are_dense(self):
        for tokenizer in (self.llama3, self.qwen2):
            vocab = tokenizer["model"]["vocab"]
            self.assertEqual(vocab["!"], 0)   # GPT-2's order: printable ASCII first
            self.assertEqual(vocab["Ā"], 188)  # byte 0x00
            self.assertEqual(vocab["Ġ"], 220)  # the space byte
            ids = sorted(list(vocab.values()) + [t["id"] for t in tokenizer["added_tokens"]])
            self.assertEqual(ids, list(range(len(ids))))
            self.assertGreater(len(tokenizer["model"]["merges"]), 250)
        self.assertIsInstance(self.llama3["model"]["merges"][0], str)   # "a b", as Llama 3's file
        self.assertIsInstance(self.qwen2["model"]["merges"][0], list)   # [a, b], as newer files
        self.assertTrue(self.llama3["model"]["ignore_merges"])

    def test_special_tokens_and_post_processor(self):
        added = {t["content"]: t for t in self.llama3["added_tokens"]}
        first = len(self.llama3["model"]["vocab"])
        self.assertEqual(added["<|begin_of_text|>"]["id"], first)
        self.assertEqual(added["<|eot_id|>"]["id"], first + 9)  # as in Llama 3 (128009 = 128000 + 9)
        template = self.llama3["post_processor"]["processors"][1]
        self.assertEqual(template["single"][0], {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}})
        self.assertEqual(template["special_tokens"]["<|begin_of_text|>"]["ids"], [first])
        self.assertEqual(self.qwen2["post_processor"]["type"], "ByteLevel")
        self.assertEqual((self.llama3_config["bos_token"], self.llama3_config["eos_token"]), ("<|begin_of_text|>", "<|eot_id|>"))
        self.assertNotIn("pad_token", self.llama3_config)
        self.assertEqual((self.qwen2_config["bos_token"], self.qwen2_config["eos_token"], self.qwen2_config["pad_token"]),
                         (None, "<|im_end|>", "<|endoftext|>"))
        qwen2_added = {t["content"]: t for t in self.qwen2["added_tokens"]}
        self.assertFalse(qwen2_added["<tool_call>"]["special"])

    def test_reference_round_trips_and_prepends_bos_for_llama3_only(self):
        for reference in (self.llama3_reference, self.qwen2_reference):
            self.assertGreaterEqual(len(reference["cases"]), 20)
            for case in reference["cases"]:
                self.assertEqual(case["decoded"], case["text"])
        bos = len(self.llama3["model"]["vocab"])  # <|begin_of_text|>, the first added token
        for case in self.llama3_reference["cases"]:
            self.assertEqual(case["ids_with_bos"], [bos] + case["ids"])
        for case in self.qwen2_reference["cases"]:
            self.assertEqual(case["ids_with_bos"], case["ids"])

    def test_qwen2_normalizes_to_nfc_and_llama3_does_not(self):
        qwen2 = hf_tokenizer.Reference(self.qwen2)
        self.assertEqual(qwen2.encode("cafe\u0301"), qwen2.encode("café"))
        llama3 = hf_tokenizer.Reference(self.llama3)
        self.assertNotEqual(llama3.encode("cafe\u0301"), llama3.encode("café"))

    def test_added_tokens_are_cut_out_longest_first(self):
        reference = hf_tokenizer.Reference(self.qwen2)
        end = self.qwen2_config["added_tokens_decoder"]
        im_end = int(next(i for i, t in end.items() if t["content"] == "<|im_end|>"))
        ids = reference.encode("a<|im_end|>b")
        self.assertEqual(ids[1], im_end)
        self.assertEqual(len(ids), 3)


class Splitting(unittest.TestCase):
    """The backtracking matcher cuts as tiktoken's cl100k / Qwen2 patterns do."""

    def split(self, regex, text):
        return hf_tokenizer.split_text(hf_tokenizer.parse_regex(regex), text)

    def test_llama3_pattern(self):
        cases = {
            "Hello world": ["Hello", " world"],
            "I'm 12345  x\n\n y  ": ["I", "'m", " ", "123", "45", " ", " x", "\n\n", " y", "  "],
            "DON'T 'hello": ["DON", "'T", " '", "hello"],
            "x  !": ["x", " ", " !"],
            " 123": [" ", "123"],
            "a \t\nb": ["a", " \t\n", "b"],
            "naïve café": ["naïve", " café"],
            "你好，世界！": ["你好", "，世界", "！"],  # one punctuation mark glues to the next word
            "ok!!\n\nnext": ["ok", "!!\n\n", "next"],
        }
        for text, expected in cases.items():
            self.assertEqual(self.split(LLAMA3_REGEX, text), expected, text)

    def test_qwen2_pattern_splits_single_digits(self):
        self.assertEqual(self.split(QWEN2_REGEX, "x 2024"), ["x", " ", "2", "0", "2", "4"])

    def test_contractions_ignore_case(self):
        self.assertEqual(self.split(LLAMA3_REGEX, "WE'LL it'S"), ["WE", "'LL", " it", "'S"])


class Merging(unittest.TestCase):
    def test_gpt2_merge_loop_equals_one_pair_at_a_time(self):
        """bpe_merge (GPT-2's loop) gives what merging the lowest-ranked, leftmost pair one at a
        time gives (the `tokenizers` library's order) on every word of the corpus."""
        tree = hf_tokenizer.parse_regex(LLAMA3_REGEX)
        merges = hf_tokenizer.train_merges(hf_tokenizer.CORPUS, tree, 120)
        ranks = {pair: rank for rank, pair in enumerate(merges)}

        def one_at_a_time(word):
            word = list(word)
            while True:
                candidates = [(ranks[p], k) for k, p in enumerate(zip(word, word[1:])) if p in ranks]
                if not candidates:
                    return word
                _, k = min(candidates)
                word[k:k + 2] = [word[k] + word[k + 1]]

        for piece in set(hf_tokenizer.split_text(tree, hf_tokenizer.CORPUS + "aaaa ababab")):
            symbols = [hf_tokenizer.BYTE_SYMBOL[b] for b in piece.encode("utf-8")]
            self.assertEqual(hf_tokenizer.bpe_merge(symbols, ranks), one_at_a_time(symbols), piece)

    def test_training_is_deterministic(self):
        self.assertEqual(hf_tokenizer.build("qwen2", 50), hf_tokenizer.build("qwen2", 50))


if __name__ == "__main__":
    unittest.main()
