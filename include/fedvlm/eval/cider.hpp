// CIDEr-D (Vedantam et al. 2015) as coco-caption's cider_scorer.py computes it.
//   Document frequency df(g): the number of images whose reference set contains n-gram g, over the
//   evaluated corpus of I images. Weights g(x) = tf_x(g) · (ln I − ln max(1, df(g))), tf the raw count.
//   For each n = 1..4 and reference r of image i:
//     s_n(c, r) = Σ_g min(g_c, g_r) · g_r / (‖g_c‖ ‖g_r‖) · exp(−(|c| − |r|)² / (2σ²)),  σ = 6
//   (s_n = 0 when either norm is 0), CIDEr-D_i = 10 · mean_n (Σ_r s_n(c, r)) / |refs_i|,
//   and the corpus score is the mean over images. A one-image corpus scores 0 (ln 1 = 0).
#pragma once

#include <vector>

#include "fedvlm/eval/caption_corpus.hpp"

namespace fedvlm::eval {

inline constexpr double kCiderSigma = 6.0;

// Per-image scores, in corpus order.
std::vector<double> cider_d_scores(const std::vector<CaptionExample>& corpus);
double corpus_cider_d(const std::vector<CaptionExample>& corpus);  // 0 for an empty corpus

}  // namespace fedvlm::eval
