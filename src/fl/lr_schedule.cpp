#include "fedvlm/fl/lr_schedule.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm::fl {

double local_lr_for_round(const LocalConfig& local, std::int64_t round, std::int64_t total_rounds) {
  if (total_rounds < 1 || round < 0 || round >= total_rounds)
    throw InputError(fmt::format("learning-rate schedule: round {} is outside [0, fl.rounds = {})", round, total_rounds));
  if (local.lr_schedule == "constant") return local.lr;
  if (local.lr_schedule == "cosine") {
    const double min_lr = local.lr * local.min_lr_ratio;
    const double progress = static_cast<double>(round) / static_cast<double>(total_rounds);
    return min_lr + (local.lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }
  throw InputError(
      fmt::format("local.lr_schedule = \"{}\" is unknown; choose cosine or constant", local.lr_schedule));
}

}  // namespace fedvlm::fl
