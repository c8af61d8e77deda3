// ROUGE-L (Lin 2004) as coco-caption's rouge.py computes it: with LCS the longest common token
// subsequence of candidate c and reference r, P = LCS/|c| and R = LCS/|r| are each maximized over
// the references (separately, as coco-caption does), and
//   F = (1 + β²) P R / (R + β² P),  β = 1.2,   F = 0 when P or R is 0.
// The corpus score is the mean of F over the examples.
#pragma once

#include <string>
#include <vector>

#include "fedvlm/eval/caption_corpus.hpp"

namespace fedvlm::eval {

inline constexpr double kRougeBeta = 1.2;

std::size_t longest_common_subsequence(const std::vector<std::string>& a, const std::vector<std::string>& b);
double rouge_l(const TokenizedExample& example);
double corpus_rouge_l(const std::vector<CaptionExample>& corpus);  // 0 for an empty corpus

}  // namespace fedvlm::eval
