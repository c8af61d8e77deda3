#!/usr/bin/python3
"""Tiny Hugging Face byte-level BPE tokenizers, and a reference encoder for them; stdlib only.

Writes a directory laid out as Llama 3 and Qwen2 checkpoints ship their tokenizer, so readers of
real tokenizers can be tested without downloading one:

  tokenizer.json          model (BPE: 256 byte symbols + merges learned from a small corpus),
                          added_tokens, normalizer, pre_tokenizer, post_processor, decoder in the
                          structure the real files have
  tokenizer_config.json   bos/eos/pad tokens and the chat template as the Instruct models set them
  reference.json          (--reference) the ids of test texts by the reference encoder below

The reference encoder is written from the `tokenizers` library's documented behaviour and is
deliberately unlike fedvlm's C++ one: it interprets the tokenizer.json regex with a small
backtracking matcher, cuts added tokens with Python's `re`, merges as GPT-2's original `bpe()`
does (all occurrences of the best pair per pass) and applies NFC with unicodedata.

  /usr/bin/python3 tools/hf_tokenizer.py write --layout llama3 --out /tmp/llama3-tok --reference
  /usr/bin/python3 tools/hf_tokenizer.py encode /tmp/qwen2-tok "Hello <|im_end|>"
"""
import argparse
import collections
import json
import re
import sys
import unicodedata
from pathlib import Path

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")

# Chat templates as Meta-Llama-3-8B-Instruct and Qwen2-7B-Instruct ship them (Jinja escapes
# such as \n are written as the two characters, as in the real files).
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}")
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
    "You are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}")

# The training text: enough English, digits, accents, CJK and emoji that merges form in each.
CORPUS = """The quick brown fox jumps over the lazy dog. The dog doesn't mind; it's lazy and they're friends.
What is the color of the shirt? The shirt is red. What is in the image? A cat sitting on a mat.
Describe the image briefly. A man riding a bicycle down the street next to a red bus.
Where is the bag? The bag is at [0.125, 0.250, 0.875, 0.990] in the image. There are 12 people and 345 birds.
In 2024 the price rose from 1000 to 123456 units; call 555-0199 now!
Café crème, naïve résumé, façade, jalapeño, Ångström, Zürich, São Paulo, Kraków.
東京は日本の首都です。我们喜欢自然语言处理。你好，世界！한국어 텍스트도 있습니다.
Emoji: 😀 👍🏽 🇫🇷 ❤️ 🚀 — and some “quotes”, ‘apostrophes’ … ellipses.
    indented code:
        return x + y  # comment
Hello hello HELLO, world WORLD world. I'll, you'll, we've, he'd, she's, I'M, YOU'RE.
""" * 3

LAYOUTS = {
    "llama3": dict(
        regex=LLAMA3_REGEX, merges_as_pairs=False, ignore_merges=True, normalizer=None,
        added=["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
               "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>",
               "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"],
        not_special=[], bos="<|begin_of_text|>", eos="<|eot_id|>", pad=None, chat_template=LLAMA3_CHAT_TEMPLATE,
        # Real Llama 3 vocabularies hold words no merge sequence builds; ignore_merges finds them whole.
        whole_words=["Ġfedvlm"]),
    "qwen2": dict(
        regex=QWEN2_REGEX, merges_as_pairs=True, ignore_merges=False, normalizer={"type": "NFC"},
        added=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>"],
        not_special=["<tool_call>", "</tool_call>"], bos=None, eos="<|im_end|>", pad="<|endoftext|>",
        chat_template=QWEN2_CHAT_TEMPLATE, whole_words=[]),
}

# Texts the reference encodes into reference.json: Unicode (accents, CJK, emoji, combining
# marks that NFC keeps), whitespace runs and newlines, digits, contractions, special tokens.
CASES = [
    "", "Hello world", "The quick brown fox jumps over the lazy dog.",
    "I'm sure you're right; they'd've said it's FINE, DON'T you THINK? We'LL see.", "it'ſ a long s",
    "naïve café résumé façade Ångström", "q\u0307 and नमस्ते (combining marks NFC keeps)",
    "東京は日本の首都です。你好，世界！", "emoji 😀👍🏽 🇫🇷 ❤️🚀!!", "12345 and 1234567 and 3.14159, 2024-01-02",
    "  two leading spaces", "trailing spaces   ", "tabs\tand\t\tmore", "line one\nline two\n\n\nline five\r\nend",
    "   \n  \n", "a\u00a0b\u3000c\u2028d", "x  y   z    !", "'quoted' and \"double\" -- dashes...",
    " fedvlm fedvlm", "unknown 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 letters", "\u0301 starts with a combining mark",
]
SPECIAL_CASES = {
    "llama3": ["<|begin_of_text|>Hi<|eot_id|>", "before <|start_header_id|>user<|end_header_id|>\n\nafter<|eot_id|>",
               "<|eot_id|><|eot_id|>x", "not <|special|> <|eot_id"],
    "qwen2": ["<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", "<tool_call>{\"a\": 1}</tool_call>",
              "<|endoftext|><|im_end|>"],
}


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, shift = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + shift)
            shift += 1
    return table


BYTE_SYMBOL = bytes_to_unicode()
SYMBOL_BYTE = {symbol: b for b, symbol in BYTE_SYMBOL.items()}
WHITE_SPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}


# ----- a tiny backtracking regex engine for the split patterns -----

def parse_regex(text):
    """AST of the subset of regex syntax the split patterns use: alternation, groups (?i:...)
    and (?!...), classes [..] with ^, \\p{L} \\p{N} \\s \\S \\r \\n, quantifiers ? + * {m,n}."""
    pos = 0

    def peek():
        return text[pos] if pos < len(text) else None

    def escape():
        nonlocal pos
        c = text[pos + 1]
        pos += 2
        if c == "p":
            name = text[pos + 1:text.index("}", pos)]
            pos = text.index("}", pos) + 1
            return lambda ch: unicodedata.category(ch).startswith(name)
        return {"s": lambda ch: ch in WHITE_SPACE, "S": lambda ch: ch not in WHITE_SPACE,
                "r": lambda ch: ch == "\r", "n": lambda ch: ch == "\n"}[c]

    def atom(fold):
        nonlocal pos
        c = peek()
        if c == "(":
            if text.startswith("(?i:", pos):
                pos += 4
                node = alternation(True)
            elif text.startswith("(?!", pos):
                pos += 3
                node = ("not_followed", alternation(fold))
            else:
                raise ValueError(f"unsupported group at {pos}")
            assert text[pos] == ")"
            pos += 1
            return node
        if c == "[":
            pos += 1
            negate = peek() == "^"
            pos += negate
            members = []
            while peek() != "]":
                if peek() == "\\":
                    members.append(escape())
                else:
                    members.append((lambda lit: lambda ch: ch == lit)(text[pos]))
                    pos += 1
            pos += 1
            return ("class", lambda ch: any(m(ch) for m in members) != negate)
        if c == "\\":
            return ("class", escape())
        pos += 1
        if fold:
            return ("class", lambda ch: ch.casefold() == c.casefold())
        return ("class", lambda ch: ch == c)

    def piece(fold):
        nonlocal pos
        node = atom(fold)
        c = peek()
        if c in ("?", "+", "*"):
            pos += 1
            return ("repeat", node, 1 if c == "+" else 0, 1 if c == "?" else sys.maxsize)
        if c == "{":
            end = text.index("}", pos)
            low, high = text[pos + 1:end].split(",")
            pos = end + 1
            return ("repeat", node, int(low), int(high))
        return node

    def alternation(fold):
        nonlocal pos
        branches = [[]]
        while peek() not in (None, ")"):
            if peek() == "|":
                pos += 1
                branches.append([])
            else:
                branches[-1].append(piece(fold))
        return ("alternatives", [("sequence", b) for b in branches])

    tree = alternation(False)
    assert pos == len(text), f"unparsed regex text at {pos}"
    return tree


def match(node, s, i, then):
    """The end of the first match of `node` at s[i:] for which `then(end)` succeeds, in the
    order a backtracking engine tries them (greedy quantifiers, leftmost alternative first)."""
    kind = node[0]
    if kind == "class":
        return then(i + 1) if i < len(s) and node[1](s[i]) else None
    if kind == "sequence":
        def step(index, j):
            return then(j) if index == len(node[1]) else match(node[1][index], s, j, lambda k: step(index + 1, k))
        return step(0, i)
    if kind == "alternatives":
        for branch in node[1]:
            result = match(branch, s, i, then)
            if result is not None:
                return result
        return None
    if kind == "repeat":
        _, inner, low, high = node

        def repeat(count, j):
            if count < high:
                result = match(inner, s, j, lambda k: repeat(count + 1, k))
                if result is not None:
                    return result
            return then(j) if count >= low else None
        return repeat(0, i)
    if kind == "not_followed":
        return then(i) if match(node[1], s, i, lambda k: k) is None else None
    raise ValueError(kind)


def split_text(tree, text):
    """The consecutive matches of the pattern (Split with behavior Isolated)."""
    pieces, i = [], 0
    while i < len(text):
        end = match(tree, text, i, lambda k: k)
        assert end is not None and end > i, f"the pattern does not match at {i} of {text!r}"
        pieces.append(text[i:end])
        i = end
    return pieces


# ----- BPE -----

def bpe_merge(symbols, ranks):
    """GPT-2's bpe(): merge every occurrence of the lowest-ranked pair, left to right, per pass."""
    word = list(symbols)
    while len(word) > 1:
        pairs = {(a, b) for a, b in zip(word, word[1:]) if (a, b) in ranks}
        if not pairs:
            break
        best = min(pairs, key=lambda p: ranks[p])
        merged, k = [], 0
        while k < len(word):
            if k + 1 < len(word) and (word[k], word[k + 1]) == best:
                merged.append(word[k] + word[k + 1])
                k += 2
            else:
                merged.append(word[k])
                k += 1
        word = merged
    return word


def train_merges(corpus, tree, count):
    """A plain BPE trainer: the most frequent adjacent pair (ties: the smallest pair) `count` times."""
    words = collections.Counter(tuple(BYTE_SYMBOL[b] for b in piece.encode("utf-8")) for piece in split_text(tree, corpus))
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        updated = collections.Counter()
        for word, n in words.items():
            updated[tuple(bpe_merge(word, {best: 0}))] += n
        words = updated
    return merges


def build(layout, merge_count):
    """(tokenizer.json, tokenizer_config.json) objects of a layout."""
    spec = LAYOUTS[layout]
    tree = parse_regex(spec["regex"])
    merges = train_merges(CORPUS, tree, merge_count)
    vocab = {}
    for symbol in bytes_to_unicode_order():
        vocab[symbol] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    for word in spec["whole_words"]:
        vocab.setdefault(word, len(vocab))
    added = [{"id": len(vocab) + k, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": content in spec["not_special"], "special": content not in spec["not_special"]}
             for k, content in enumerate(spec["added"])]
    split = {"type": "Split", "pattern": {"Regex": spec["regex"]}, "behavior": "Isolated", "invert": False}
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": layout == "llama3", "use_regex": False}
    if layout == "llama3":
        bos = {"SpecialToken": {"id": spec["bos"], "type_id": 0}}
        post_processor = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": spec["bos"], "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {spec["bos"]: {"id": spec["bos"], "ids": [added[0]["id"]], "tokens": [spec["bos"]]}}}]}
        decoder = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    else:
        post_processor = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
        decoder = dict(post_processor)
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": spec["normalizer"],
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, byte_level]},
        "post_processor": post_processor, "decoder": decoder,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": spec["ignore_merges"], "vocab": vocab,
                  "merges": [[a, b] if spec["merges_as_pairs"] else f"{a} {b}" for a, b in merges]},
    }
    config = {
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added},
        "bos_token": spec["bos"], "chat_template": spec["chat_template"],
        "clean_up_tokenization_spaces": layout == "llama3", "eos_token": spec["eos"],
        "model_max_length": 8192 if layout == "llama3" else 32768,
        "tokenizer_class": "PreTrainedTokenizerFast" if layout == "llama3" else "Qwen2Tokenizer",
    }
    if spec["pad"] is not None:
        config["pad_token"] = spec["pad"]
    return tokenizer, config


def bytes_to_unicode_order():
    """The 256 byte symbols in the id order GPT-2-derived vocabularies give them (printable first)."""
    return sorted(BYTE_SYMBOL.values(), key=ord)


class Reference:
    """Encodes and decodes with a tokenizer.json as `tokenizers` does, by other means than fedvlm."""

    def __init__(self, tokenizer):
        model = tokenizer["model"]
        self.vocab = model["vocab"]
        self.ranks = {tuple(m.split(" ") if isinstance(m, str) else m): r for r, m in enumerate(model["merges"])}
        self.ignore_merges = model.get("ignore_merges", False)
        self.nfc = (tokenizer.get("normalizer") or {}).get("type") == "NFC"
        split = tokenizer["pre_tokenizer"]["pretokenizers"][0]
        self.tree = parse_regex(split["pattern"]["Regex"])
        self.added = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
        by_length = sorted(self.added, key=len, reverse=True)
        self.added_pattern = re.compile("|".join(re.escape(t) for t in by_length)) if by_length else None
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.added.items()})
        self.bos = None
        post = tokenizer.get("post_processor") or {}
        for step in post.get("processors", [post]):
            if step.get("type") == "TemplateProcessing" and "SpecialToken" in step["single"][0]:
                self.bos = step["special_tokens"][step["single"][0]["SpecialToken"]["id"]]["ids"][0]

    def encode(self, text, add_special_tokens=False):
        ids = [self.bos] if add_special_tokens and self.bos is not None else []
        segments = self.added_pattern.split(text) if self.added_pattern else [text]
        found = self.added_pattern.findall(text) if self.added_pattern else []
        for k, segment in enumerate(segments):
            if self.nfc:
                segment = unicodedata.normalize("NFC", segment)
            for piece in split_text(self.tree, segment):
                symbols = "".join(BYTE_SYMBOL[b] for b in piece.encode("utf-8"))
                if self.ignore_merges and symbols in self.vocab:
                    ids.append(self.vocab[symbols])
                    continue
                ids.extend(self.vocab[token] for token in bpe_merge(list(symbols), self.ranks))
            if k < len(found):
                ids.append(self.added[found[k]])
        return ids

    def decode(self, ids):
        data = b""
        for i in ids:
            token = self.id_to_token[i]
            data += bytes(SYMBOL_BYTE[c] for c in token) if all(c in SYMBOL_BYTE for c in token) else token.encode()
        return data.decode("utf-8", errors="replace")


def write(layout, out, merge_count, reference):
    tokenizer, config = build(layout, merge_count)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
    if reference:
        ref = Reference(tokenizer)
        cases = [{"text": text, "ids": ref.encode(text), "ids_with_bos": ref.encode(text, add_special_tokens=True)}
                 for text in CASES + SPECIAL_CASES[layout]]
        for case in cases:
            case["decoded"] = ref.decode(case["ids"])
        (out / "reference.json").write_text(json.dumps({"layout": layout, "cases": cases}, indent=1, ensure_ascii=False),
                                            encoding="utf-8")


def main(argv=None):
    sys.setrecursionlimit(20000)  # the matcher recurses once per character of a match
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    write_command = commands.add_parser("write", help="write a tokenizer directory")
    write_command.add_argument("--layout", choices=sorted(LAYOUTS), required=True)
    write_command.add_argument("--out", required=True)
    write_command.add_argument("--merges", type=int, default=300, help="merges to learn (default 300)")
    write_command.add_argument("--reference", action="store_true", help="also write reference.json")
    encode_command = commands.add_parser("encode", help="print the ids of texts as JSON lists")
    encode_command.add_argument("directory")
    encode_command.add_argument("texts", nargs="+")
    encode_command.add_argument("--add-special-tokens", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.layout, args.out, args.merges, args.reference)
    else:
        ref = Reference(json.loads((Path(args.directory) / "tokenizer.json").read_text(encoding="utf-8")))
        for text in args.texts:
            print(json.dumps(ref.encode(text, args.add_special_tokens)))


if __name__ == "__main__":
    main()
