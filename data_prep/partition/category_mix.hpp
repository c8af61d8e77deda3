// Per-client category mixes from a Dirichlet prior, with equal client sizes: the FedLab
// `client_inner_dirichlet_partition` scheme. Each client i draws proportions q_i ~ Dir(alpha)
// over the categories present; samples are dealt one at a time to a random client with room,
// the category drawn from q_i; a category that runs out is removed from every prior.
// Shared by the label-skew (`dirichlet-mix`) and task-skew (`task --task-alpha`) partitioners.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "fedvlm/core/rng.hpp"

namespace fedvlm::prep {

// categories[i] in [0, num_categories); returns the client of every sample.
std::vector<std::int64_t> assign_by_category_mix(std::span<const std::int64_t> categories,
                                                 std::int64_t num_categories, std::int64_t num_clients,
                                                 double alpha, Rng& rng);

// Sizes summing to `total`, as equal as possible (the first total % clients get one more).
std::vector<std::int64_t> equal_sizes(std::int64_t total, std::int64_t num_clients);

}  // namespace fedvlm::prep
