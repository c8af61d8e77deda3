#include "fedvlm/eval/bleu.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace fedvlm::eval {
namespace {

// coco-caption's smoothing constants: they keep an empty or unmatched corpus finite.
constexpr double kTiny = 1e-15;
constexpr double kSmall = 1e-9;

}  // namespace

void BleuStatistics::add(const TokenizedExample& example) {
  const auto candidate_length_here = static_cast<long>(example.candidate.size());
  // The reference length closest to the candidate's; on a tie the shorter one.
  long closest = -1;
  NgramCounts max_reference_counts;
  for (const auto& reference : example.references) {
    const auto length = static_cast<long>(reference.size());
    const long distance = std::labs(length - candidate_length_here);
    const long best_distance = std::labs(closest - candidate_length_here);
    if (closest < 0 || distance < best_distance || (distance == best_distance && length < closest)) closest = length;
    const NgramCounts counts = count_ngrams(reference);
    for (int n = 0; n < kMaxNgram; ++n) {
      for (const auto& [ngram, count] : counts[n]) {
        int& best = max_reference_counts[n][ngram];
        best = std::max(best, count);
      }
    }
  }
  const NgramCounts candidate_counts = count_ngrams(example.candidate);
  for (int n = 0; n < kMaxNgram; ++n) {
    for (const auto& [ngram, count] : candidate_counts[n]) {
      const auto found = max_reference_counts[n].find(ngram);
      if (found != max_reference_counts[n].end()) matches[n] += std::min(count, found->second);
    }
    totals[n] += static_cast<double>(std::max(0L, candidate_length_here - n));
  }
  candidate_length += static_cast<double>(candidate_length_here);
  reference_length += static_cast<double>(std::max(closest, 0L));
}

std::array<double, kMaxNgram> BleuStatistics::scores() const {
  std::array<double, kMaxNgram> bleu{};
  const double ratio = (candidate_length + kTiny) / (reference_length + kSmall);
  const double brevity_penalty = ratio < 1 ? std::exp(1 - 1 / ratio) : 1.0;
  double precision_product = 1;
  for (int n = 0; n < kMaxNgram; ++n) {
    precision_product *= (matches[n] + kTiny) / (totals[n] + kSmall);
    bleu[n] = std::pow(precision_product, 1.0 / (n + 1)) * brevity_penalty;
  }
  return bleu;
}

std::array<double, kMaxNgram> corpus_bleu(const std::vector<CaptionExample>& corpus) {
  BleuStatistics statistics;
  for (const TokenizedExample& example : tokenize_corpus(corpus)) statistics.add(example);
  return statistics.scores();
}

}  // namespace fedvlm::eval
