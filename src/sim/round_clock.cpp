#include "fedvlm/sim/round_clock.hpp"

#include <cmath>

#include <fmt/format.h>

namespace fedvlm::sim {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 90) return fmt::format("{:.1f} s", seconds);
  const auto total = static_cast<long long>(std::llround(seconds));
  if (total < 3600) return fmt::format("{} min {:02d} s", total / 60, total % 60);
  return fmt::format("{} h {:02d} min", total / 3600, (total % 3600) / 60);
}

}  // namespace fedvlm::sim
