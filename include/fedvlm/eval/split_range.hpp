// How a test split is divided over ranks: contiguous ranges, the first `total % world` ranks one
// row longer, so concatenating the ranges in rank order gives back the split in order.
#pragma once

#include <cstdint>
#include <utility>

namespace fedvlm::eval {

// [begin, end) of rank `rank` of `world`; throws Error for a rank outside the world or a negative total.
std::pair<std::int64_t, std::int64_t> split_range(std::int64_t total, int rank, int world);

}  // namespace fedvlm::eval
