#include "fedvlm/eval/split_range.hpp"

#include <algorithm>

#include "fedvlm/core/error.hpp"

namespace fedvlm::eval {

std::pair<std::int64_t, std::int64_t> split_range(std::int64_t total, int rank, int world) {
  FEDVLM_CHECK(world > 0 && rank >= 0 && rank < world, "split_range: rank {} is not a rank of a world of {}", rank, world);
  FEDVLM_CHECK(total >= 0, "split_range: negative row count {}", total);
  const std::int64_t base = total / world;
  const std::int64_t longer = total % world;  // ranks [0, longer) get base + 1 rows
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, longer);
  return {begin, begin + base + (rank < longer ? 1 : 0)};
}

}  // namespace fedvlm::eval
