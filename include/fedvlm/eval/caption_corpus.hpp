// The input of the corpus-level caption metrics (BLEU-4, ROUGE-L, CIDEr-D): one generated caption
// per image with its reference captions, and the n-gram counting BLEU and CIDEr-D share.
#pragma once

#include <array>
#include <string>
#include <unordered_map>
#include <vector>

namespace fedvlm::eval {

struct CaptionExample {
  std::string candidate;
  std::vector<std::string> references;  // at least one
};

// The tokens of one caption example (text.hpp's caption_tokens).
struct TokenizedExample {
  std::vector<std::string> candidate;
  std::vector<std::vector<std::string>> references;
};

// Throws fedvlm::Error naming the example when one has no reference.
std::vector<TokenizedExample> tokenize_corpus(const std::vector<CaptionExample>& corpus);

inline constexpr int kMaxNgram = 4;

// counts[n - 1] maps each n-gram (its tokens joined by single spaces: tokens hold no whitespace,
// so the key is unambiguous) to its number of occurrences, n = 1..kMaxNgram.
using NgramCounts = std::array<std::unordered_map<std::string, int>, kMaxNgram>;

NgramCounts count_ngrams(const std::vector<std::string>& tokens);

}  // namespace fedvlm::eval
