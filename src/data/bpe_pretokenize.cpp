#include "bpe_pretokenize.hpp"

#include <algorithm>
#include <span>

#include "fedvlm/core/error.hpp"
#include "unicode_categories.hpp"

namespace fedvlm::data::bpe {
namespace {

constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

bool in_ranges(std::span<const unicode::CodePointRange> ranges, char32_t c) {
  const auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                                   [](char32_t value, const unicode::CodePointRange& r) { return value < r.first; });
  return it != ranges.begin() && c <= std::prev(it)->last;
}

bool is_line_break(char32_t c) { return c == U'\r' || c == U'\n'; }
// [^\s\p{L}\p{N}]: punctuation, symbols, marks, emoji, controls that are not White_Space.
bool is_other(char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); }

// (?i:x) for the contraction letters: ASCII case, plus U+017F LATIN SMALL LETTER LONG S, which
// Unicode case folding (and so the regex engine behind `tokenizers`) maps to 's'.
char32_t fold(char32_t c) {
  if (c == U'\u017F') return U's';
  return (c >= U'A' && c <= U'Z') ? c + (U'a' - U'A') : c;
}

// The end of the match starting at `i`: the first alternative of the pattern that matches
// there, with the length the regex engine's backtracking gives it (comments spell out each).
std::size_t match_end(const std::u32string& s, std::size_t i, std::size_t max_digits) {
  const std::size_t n = s.size();
  auto run = [&](std::size_t k, auto predicate, std::size_t limit = SIZE_MAX) {
    const std::size_t start = k;
    while (k < n && k - start < limit && predicate(s[k])) ++k;
    return k;
  };
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
  if (s[i] == U'\'' && i + 1 < n) {
    const char32_t a = fold(s[i + 1]);
    if (a == U's' || a == U't' || a == U'm' || a == U'd') return i + 2;
    if (i + 2 < n) {
      const char32_t b = fold(s[i + 2]);
      if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) return i + 3;
    }
  }
  // [^\r\n\p{L}\p{N}]?\p{L}+ : one optional leading non-letter (a space, an apostrophe) glued to a word.
  if (is_letter(s[i])) return run(i, is_letter);
  if (!is_line_break(s[i]) && !is_number(s[i]) && i + 1 < n && is_letter(s[i + 1])) return run(i + 1, is_letter);
  // \p{N}{1,3} (Llama 3) or \p{N} (Qwen2)
  if (is_number(s[i])) return run(i, is_number, max_digits);
  // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
  const std::size_t k = (s[i] == U' ' && i + 1 < n && is_other(s[i + 1])) ? i + 1 : i;
  if (is_other(s[k])) return run(run(k, is_other), is_line_break);
  // What is left starts with white space: j ends the run.
  const std::size_t j = run(i, is_space);
  // \s*[\r\n]+ : backtracking stops \s* just before the run's last line break.
  for (std::size_t m = j; m > i; --m)
    if (is_line_break(s[m - 1])) return m;
  // \s+(?!\S) : the whole run at the end of the text, else the run less its last character
  // (which then glues to the next word as its optional leading character).
  if (j == n) return j;
  if (j - 1 > i) return j - 1;
  return j;  // \s+
}

}  // namespace

std::optional<SplitPattern> recognize_split_pattern(std::string_view regex) {
  if (regex == kLlama3Regex) return SplitPattern::llama3;
  if (regex == kQwen2Regex) return SplitPattern::qwen2;
  return std::nullopt;
}

std::string_view split_pattern_regex(SplitPattern pattern) {
  return pattern == SplitPattern::llama3 ? kLlama3Regex : kQwen2Regex;
}

bool is_letter(char32_t c) { return in_ranges(unicode::kLetters, c); }
bool is_number(char32_t c) { return in_ranges(unicode::kNumbers, c); }
bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<std::string_view> split(std::string_view text, SplitPattern pattern) {
  const auto points = decode_utf8(text);
  if (!points) throw InputError("the text to tokenize is not valid UTF-8");
  const std::size_t max_digits = pattern == SplitPattern::llama3 ? 3 : 1;
  std::vector<std::string_view> pieces;
  for (std::size_t i = 0; i < points->chars.size();) {
    const std::size_t end = match_end(points->chars, i, max_digits);
    pieces.push_back(text.substr(points->offsets[i], points->offsets[end] - points->offsets[i]));
    i = end;
  }
  return pieces;
}

std::optional<CodePoints> decode_utf8(std::string_view text) {
  CodePoints out;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return std::nullopt;
    char32_t c = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      c = (c << 6) | (next & 0x3F);
    }
    constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kSmallest[length] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return std::nullopt;
    out.chars.push_back(c);
    out.offsets.push_back(i);
    i += length;
  }
  out.offsets.push_back(text.size());
  return out;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace fedvlm::data::bpe
