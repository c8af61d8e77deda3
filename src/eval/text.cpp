#include "fedvlm/eval/text.hpp"

#include <algorithm>
#include <array>

namespace fedvlm::eval {
namespace {

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
// Bytes >= 0x80 (UTF-8 sequences) are kept as word characters: only ASCII punctuation breaks words.
bool is_ascii_punctuation(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x21 && u <= 0x2F) || (u >= 0x3A && u <= 0x40) || (u >= 0x5B && u <= 0x60) || (u >= 0x7B && u <= 0x7E);
}
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::vector<std::string> caption_tokens(std::string_view text) {
  std::vector<std::string> tokens;
  std::string word;
  const auto flush = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool decimal_point = c == '.' && i > 0 && i + 1 < text.size() && is_ascii_digit(text[i - 1]) &&
                               is_ascii_digit(text[i + 1]);
    if (is_ascii_space(c) || (is_ascii_punctuation(c) && !decimal_point)) {
      flush();
    } else {
      word.push_back(ascii_lower(c));
    }
  }
  flush();
  return tokens;
}

std::string normalize_answer(std::string_view text) {
  static constexpr std::array<std::string_view, 3> kArticles = {"a", "an", "the"};
  std::string normalized;
  for (const std::string& token : caption_tokens(text)) {
    if (std::find(kArticles.begin(), kArticles.end(), token) != kArticles.end()) continue;
    if (!normalized.empty()) normalized.push_back(' ');
    normalized += token;
  }
  return normalized;
}

bool answers_match(std::string_view prediction, std::string_view reference) {
  return normalize_answer(prediction) == normalize_answer(reference);
}

}  // namespace fedvlm::eval
