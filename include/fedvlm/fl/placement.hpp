// Placement: which rank trains which cohort client. Deterministic longest-processing-time
// greedy (LPT): clients by decreasing work (ties: smaller id first), each to the rank with the
// least work so far (ties: lower rank). Makespan ≤ (4/3 − 1/(3·ranks))·optimal. Placement
// changes only the speed of a round, never its result.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fedvlm::fl {

// `work_of_client` is indexed by global client id (sample counts, or local step counts when
// local.steps fixes the work). Returns, per rank, its clients in increasing id order.
// Throws when a cohort id is out of range or repeated, or world_size < 1.
std::vector<std::vector<std::int64_t>> place_clients(std::span<const std::int64_t> cohort,
                                                     std::span<const std::int64_t> work_of_client,
                                                     int world_size);

}  // namespace fedvlm::fl
