#include "fedvlm/fl/placement.hpp"

#include <algorithm>

#include "fedvlm/core/error.hpp"

namespace fedvlm::fl {

std::vector<std::vector<std::int64_t>> place_clients(std::span<const std::int64_t> cohort,
                                                     std::span<const std::int64_t> work_of_client,
                                                     int world_size) {
  FEDVLM_CHECK(world_size >= 1, "placement needs at least one rank, got {}", world_size);
  const auto known = static_cast<std::int64_t>(work_of_client.size());
  std::vector<std::int64_t> order(cohort.begin(), cohort.end());
  for (const std::int64_t client : order) {
    FEDVLM_CHECK(client >= 0 && client < known, "placement: client {} has no work entry (known clients: {})", client,
                 known);
    FEDVLM_CHECK(work_of_client[static_cast<std::size_t>(client)] >= 0, "placement: client {} has negative work {}",
                 client, work_of_client[static_cast<std::size_t>(client)]);
  }
  // Longest first; equal work in increasing id, so the order (and the result) is unique.
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const auto wa = work_of_client[static_cast<std::size_t>(a)];
    const auto wb = work_of_client[static_cast<std::size_t>(b)];
    return wa != wb ? wa > wb : a < b;
  });
  const auto repeated = std::adjacent_find(order.begin(), order.end());
  FEDVLM_CHECK(repeated == order.end(), "placement: client {} appears twice in the cohort",
               repeated == order.end() ? -1 : *repeated);

  std::vector<std::vector<std::int64_t>> clients_of_rank(static_cast<std::size_t>(world_size));
  std::vector<std::int64_t> load(static_cast<std::size_t>(world_size), 0);
  for (const std::int64_t client : order) {
    // min_element returns the first (lowest) rank among equally loaded ones.
    const auto rank = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    clients_of_rank[rank].push_back(client);
    load[rank] += work_of_client[static_cast<std::size_t>(client)];
  }
  for (auto& clients : clients_of_rank) std::sort(clients.begin(), clients.end());
  return clients_of_rank;
}

}  // namespace fedvlm::fl
