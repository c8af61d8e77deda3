// Corpus-level BLEU (Papineni et al. 2002) as coco-caption's bleu_scorer.py computes it:
// clipped n-gram matches (each candidate n-gram count capped by its largest count in any one
// reference) and candidate n-gram totals are summed over the corpus; BLEU-N is the geometric mean
// of the modified precisions p_1..p_N times the brevity penalty exp(1 - r/c) when c < r, with c
// the total candidate length and r the sum over images of the reference length closest to the
// candidate's (ties: the shorter). Like coco-caption, p_n = (matches + 1e-15) / (total + 1e-9), so
// a corpus without any 4-gram match scores a tiny positive BLEU-4 rather than exactly 0.
#pragma once

#include <array>
#include <vector>

#include "fedvlm/eval/caption_corpus.hpp"

namespace fedvlm::eval {

// The sufficient statistics: BLEU of a corpus is a function of their sum over its examples.
struct BleuStatistics {
  std::array<double, kMaxNgram> matches{};  // clipped n-gram matches
  std::array<double, kMaxNgram> totals{};   // candidate n-grams
  double candidate_length = 0;
  double reference_length = 0;              // closest reference length, summed

  void add(const TokenizedExample& example);
  // BLEU-1 .. BLEU-4 (cumulative: BLEU-n uses p_1..p_n).
  std::array<double, kMaxNgram> scores() const;
};

std::array<double, kMaxNgram> corpus_bleu(const std::vector<CaptionExample>& corpus);
inline double corpus_bleu4(const std::vector<CaptionExample>& corpus) { return corpus_bleu(corpus)[kMaxNgram - 1]; }

}  // namespace fedvlm::eval
