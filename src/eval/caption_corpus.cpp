#include "fedvlm/eval/caption_corpus.hpp"

#include "fedvlm/core/error.hpp"
#include "fedvlm/eval/text.hpp"

namespace fedvlm::eval {

std::vector<TokenizedExample> tokenize_corpus(const std::vector<CaptionExample>& corpus) {
  std::vector<TokenizedExample> tokenized;
  tokenized.reserve(corpus.size());
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    const CaptionExample& example = corpus[i];
    FEDVLM_CHECK(!example.references.empty(), "caption example {} (candidate \"{}\") has no reference caption", i,
                 example.candidate);
    TokenizedExample& out = tokenized.emplace_back();
    out.candidate = caption_tokens(example.candidate);
    for (const std::string& reference : example.references) out.references.push_back(caption_tokens(reference));
  }
  return tokenized;
}

NgramCounts count_ngrams(const std::vector<std::string>& tokens) {
  NgramCounts counts;
  for (int n = 1; n <= kMaxNgram; ++n) {
    for (std::size_t start = 0; start + n <= tokens.size(); ++start) {
      std::string key = tokens[start];
      for (int k = 1; k < n; ++k) (key += ' ') += tokens[start + k];
      ++counts[n - 1][key];
    }
  }
  return counts;
}

}  // namespace fedvlm::eval
