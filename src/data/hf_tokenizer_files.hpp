// The files of a Hugging Face tokenizer: tokenizer.json and the tokenizer_config.json beside it
// (special tokens, chat template), and their self-contained serialized form (tokenizer.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fedvlm/data/bpe_tokenizer.hpp"
#include "fedvlm/data/tokenizer.hpp"

namespace fedvlm::data {

struct HfTokenizer {
  BpeTokenizer bpe;
  SpecialIds special;  // -1 for each token neither the config nor the post_processor names
  std::string chat_template;
  std::vector<std::uint8_t> serialized;
};

// `path` itself, or for a directory its tokenizer.json, else its tokenizer.model.
std::filesystem::path resolve_tokenizer_file(const std::filesystem::path& path);
// tokenizer.json plus tokenizer_config.json from the same directory when there is one.
HfTokenizer read_hf_tokenizer(const std::filesystem::path& tokenizer_json);
// The serialized form, or a bare tokenizer.json document.
HfTokenizer parse_serialized_hf_tokenizer(std::string_view text);

}  // namespace fedvlm::data
