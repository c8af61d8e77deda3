// Byte-level BPE read from a Hugging Face tokenizer.json, encoding as the `tokenizers` library
// does for the layouts Llama 3 and Qwen2 ship:
//
//   normalizer      null, or NFC, which is applied as the identity: text that is not already
//                   in NFC (e.g. "e" + U+0301 instead of "é") may tokenize differently from
//                   `tokenizers`. Texts from the usual sources are NFC already.
//   pre_tokenizer   Sequence of Split (Llama 3's or Qwen2's GPT-4-style regex, behavior
//                   Isolated) and ByteLevel (add_prefix_space false, use_regex false)
//   model           BPE: vocab, merges ("a b" strings or [a, b] pairs), ignore_merges
//                   (Llama 3: a pre-token found whole in the vocabulary is one token);
//                   no byte fallback, dropout, or subword prefix/suffix
//   added_tokens    cut out of the text before pre-tokenization, longest first at the leftmost
//                   position; lstrip, rstrip and single_word must be false
//   decoder         ByteLevel; invalid UTF-8 in the decoded bytes becomes U+FFFD
//   post_processor  null, ByteLevel, TemplateProcessing or a Sequence of them: only whether
//                   the single-sequence template starts with a special token (Llama 3's BOS)
//
// Anything else is an InputError naming the file and the key. Ids must fill [0, size) exactly,
// vocab and added tokens together (a token may appear in both with the same id).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fedvlm::data {

class BpeTokenizer {
 public:
  // `json_text` is a tokenizer.json document; `source` names it in errors.
  static BpeTokenizer parse(std::string_view json_text, const std::string& source);
  static BpeTokenizer from_file(const std::filesystem::path& file);

  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
  ~BpeTokenizer();

  // The ids of `text` without post-processing (no BOS): `tokenizers`' encode with
  // add_special_tokens=False. Throws InputError when `text` is not valid UTF-8.
  std::vector<std::int32_t> encode(std::string_view text) const;
  // The text of `ids`, added tokens as their content. Every id must lie in [0, size()).
  std::string decode(std::span<const std::int32_t> ids) const;

  std::int32_t size() const;
  // The id of a vocabulary entry or added token, given as tokenizer.json writes it.
  std::optional<std::int32_t> id(std::string_view token) const;
  // The vocabulary entry (byte-level symbols, "Ġ" for a space) or added token's content.
  const std::string& token(std::int32_t id) const;
  // The special token the post_processor puts before every sequence, if any (Llama 3's
  // <|begin_of_text|>; Qwen2 has none).
  std::optional<std::int32_t> post_processor_bos() const;

 private:
  BpeTokenizer();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fedvlm::data
