// The pre-tokenizer split patterns of Llama 3 and Qwen2 tokenizer.json files, matched by hand:
// std::regex has no \p{L}/\p{N}, and these two patterns are the only ones fedvlm accepts, so a
// small matcher that follows the regex alternative by alternative is simpler than an engine.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedvlm::data::bpe {

// Llama 3 cuts numbers into runs of up to 3 digits; Qwen2 into single digits. Otherwise equal.
enum class SplitPattern { llama3, qwen2 };

// The pattern whose regex text is exactly `regex`, or nullopt.
std::optional<SplitPattern> recognize_split_pattern(std::string_view regex);
// The regex text of `pattern` as tokenizer.json writes it (for error messages and tests).
std::string_view split_pattern_regex(SplitPattern pattern);

// Cuts `text` into the consecutive matches of `pattern`, as the `tokenizers` Split
// pre-tokenizer does with behavior "Isolated" (the pattern matches at every position, so the
// pieces cover the text). Throws InputError when `text` is not valid UTF-8.
std::vector<std::string_view> split(std::string_view text, SplitPattern pattern);

// Unicode classes the patterns use: \p{L}, \p{N}, and \s (the White_Space property).
bool is_letter(char32_t c);
bool is_number(char32_t c);
bool is_space(char32_t c);

// The code points of UTF-8 `text` and the byte offset of each (plus text.size() at the end);
// nullopt when `text` is not valid UTF-8 (overlong forms, surrogates and > U+10FFFF included).
struct CodePoints {
  std::u32string chars;
  std::vector<std::size_t> offsets;
};
std::optional<CodePoints> decode_utf8(std::string_view text);
// Appends the UTF-8 form of `c`.
void append_utf8(std::string& out, char32_t c);

}  // namespace fedvlm::data::bpe
