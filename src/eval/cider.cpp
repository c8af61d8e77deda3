#include "fedvlm/eval/cider.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace fedvlm::eval {
namespace {

// TF-IDF weights of one caption, per n-gram order, with their Euclidean norms.
struct WeightedNgrams {
  std::array<std::unordered_map<std::string, double>, kMaxNgram> weights;
  std::array<double, kMaxNgram> norms{};
  double length = 0;  // tokens
};

class DocumentFrequencies {
 public:
  explicit DocumentFrequencies(const std::vector<std::vector<NgramCounts>>& reference_counts)
      : log_images_(std::log(static_cast<double>(reference_counts.size()))) {
    for (const auto& image_references : reference_counts) {
      for (int n = 0; n < kMaxNgram; ++n) {
        std::unordered_set<std::string> seen;  // each image counts once per n-gram
        for (const NgramCounts& counts : image_references)
          for (const auto& [ngram, count] : counts[n]) seen.insert(ngram);
        for (const std::string& ngram : seen) ++frequency_[n][ngram];
      }
    }
  }

  WeightedNgrams weigh(const NgramCounts& counts, std::size_t length) const {
    WeightedNgrams weighted;
    weighted.length = static_cast<double>(length);
    for (int n = 0; n < kMaxNgram; ++n) {
      for (const auto& [ngram, term_frequency] : counts[n]) {
        const auto found = frequency_[n].find(ngram);
        const double document_frequency = found == frequency_[n].end() ? 0.0 : found->second;
        const double weight = term_frequency * (log_images_ - std::log(std::max(1.0, document_frequency)));
        weighted.weights[n][ngram] = weight;
        weighted.norms[n] += weight * weight;
      }
      weighted.norms[n] = std::sqrt(weighted.norms[n]);
    }
    return weighted;
  }

 private:
  double log_images_;
  std::array<std::unordered_map<std::string, double>, kMaxNgram> frequency_;
};

// s_n(c, r) for n = 1..4, the length penalty included.
std::array<double, kMaxNgram> similarity(const WeightedNgrams& candidate, const WeightedNgrams& reference) {
  std::array<double, kMaxNgram> values{};
  const double delta = candidate.length - reference.length;
  const double length_penalty = std::exp(-(delta * delta) / (2 * kCiderSigma * kCiderSigma));
  for (int n = 0; n < kMaxNgram; ++n) {
    if (candidate.norms[n] == 0 || reference.norms[n] == 0) continue;
    double dot = 0;
    for (const auto& [ngram, weight] : candidate.weights[n]) {
      const auto found = reference.weights[n].find(ngram);
      if (found != reference.weights[n].end()) dot += std::min(weight, found->second) * found->second;
    }
    values[n] = dot / (candidate.norms[n] * reference.norms[n]) * length_penalty;
  }
  return values;
}

}  // namespace

std::vector<double> cider_d_scores(const std::vector<CaptionExample>& corpus) {
  const std::vector<TokenizedExample> tokenized = tokenize_corpus(corpus);
  std::vector<std::vector<NgramCounts>> reference_counts(tokenized.size());
  for (std::size_t i = 0; i < tokenized.size(); ++i)
    for (const auto& reference : tokenized[i].references) reference_counts[i].push_back(count_ngrams(reference));
  const DocumentFrequencies frequencies(reference_counts);

  std::vector<double> scores;
  scores.reserve(tokenized.size());
  for (std::size_t i = 0; i < tokenized.size(); ++i) {
    const WeightedNgrams candidate =
        frequencies.weigh(count_ngrams(tokenized[i].candidate), tokenized[i].candidate.size());
    std::array<double, kMaxNgram> summed{};
    for (std::size_t r = 0; r < tokenized[i].references.size(); ++r) {
      const WeightedNgrams reference = frequencies.weigh(reference_counts[i][r], tokenized[i].references[r].size());
      const auto values = similarity(candidate, reference);
      for (int n = 0; n < kMaxNgram; ++n) summed[n] += values[n];
    }
    double mean_over_orders = 0;
    for (double value : summed) mean_over_orders += value;
    mean_over_orders /= kMaxNgram;
    scores.push_back(10.0 * mean_over_orders / static_cast<double>(tokenized[i].references.size()));
  }
  return scores;
}

double corpus_cider_d(const std::vector<CaptionExample>& corpus) {
  if (corpus.empty()) return 0;
  const std::vector<double> scores = cider_d_scores(corpus);
  double sum = 0;
  for (double score : scores) sum += score;
  return sum / static_cast<double>(scores.size());
}

}  // namespace fedvlm::eval
