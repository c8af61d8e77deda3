// The local learning rate of each round (local.lr_schedule): "constant", or "cosine" decay
// across rounds as in the paper: lr_r = min_lr + (lr − min_lr)·½(1 + cos(π·r/R)),
// min_lr = lr·local.min_lr_ratio, r the 0-based round, R = fl.rounds.
#pragma once

#include <cstdint>

#include "fedvlm/core/config.hpp"

namespace fedvlm::fl {

// Throws InputError for an unknown schedule name or a round outside [0, total_rounds).
double local_lr_for_round(const LocalConfig& local, std::int64_t round, std::int64_t total_rounds);

}  // namespace fedvlm::fl
