#include "fedvlm/eval/rouge.hpp"

#include <algorithm>

namespace fedvlm::eval {

std::size_t longest_common_subsequence(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  // One row of the classic dynamic programme: row[j] = LCS(a[0..i), b[0..j)).
  std::vector<std::size_t> row(b.size() + 1, 0);
  for (const std::string& token : a) {
    std::size_t diagonal = 0;  // LCS(a[0..i-1), b[0..j-1)) before row[j-1] was overwritten
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = token == b[j - 1] ? diagonal + 1 : std::max(row[j], row[j - 1]);
      diagonal = above;
    }
  }
  return row[b.size()];
}

double rouge_l(const TokenizedExample& example) {
  if (example.candidate.empty()) return 0;
  double best_precision = 0;
  double best_recall = 0;
  for (const auto& reference : example.references) {
    if (reference.empty()) continue;
    const auto lcs = static_cast<double>(longest_common_subsequence(example.candidate, reference));
    best_precision = std::max(best_precision, lcs / static_cast<double>(example.candidate.size()));
    best_recall = std::max(best_recall, lcs / static_cast<double>(reference.size()));
  }
  if (best_precision == 0 || best_recall == 0) return 0;
  const double beta2 = kRougeBeta * kRougeBeta;
  return (1 + beta2) * best_precision * best_recall / (best_recall + beta2 * best_precision);
}

double corpus_rouge_l(const std::vector<CaptionExample>& corpus) {
  if (corpus.empty()) return 0;
  double sum = 0;
  for (const TokenizedExample& example : tokenize_corpus(corpus)) sum += rouge_l(example);
  return sum / static_cast<double>(corpus.size());
}

}  // namespace fedvlm::eval
