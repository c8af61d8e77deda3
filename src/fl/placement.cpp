#include "fedvlm/fl/placement.hpp"

#include <algorithm>

#include "fedvlm/core/error.hpp"

namespace fedvlm::fl {
namespace {

using Placement = std::vector<std::vector<std::int64_t>>;

std::int64_t work(std::span<const std::int64_t> work_of_client, std::int64_t client) {
  return work_of_client[static_cast<std::size_t>(client)];
}

std::size_t least_loaded(const std::vector<std::int64_t>& load) {
  // min_element returns the first (lowest) rank among equally loaded ones.
  return static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
}

// Clients in LPT order: longest first, equal work in increasing id, so the order is unique.
std::vector<std::int64_t> lpt_order(std::span<const std::int64_t> cohort, std::span<const std::int64_t> work_of_client) {
  const auto known = static_cast<std::int64_t>(work_of_client.size());
  std::vector<std::int64_t> order(cohort.begin(), cohort.end());
  for (const std::int64_t client : order) {
    FEDVLM_CHECK(client >= 0 && client < known, "placement: client {} has no work entry (known clients: {})", client,
                 known);
    FEDVLM_CHECK(work(work_of_client, client) >= 0, "placement: client {} has negative work {}", client,
                 work(work_of_client, client));
  }
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    const auto wa = work(work_of_client, a), wb = work(work_of_client, b);
    return wa != wb ? wa > wb : a < b;
  });
  const auto repeated = std::adjacent_find(order.begin(), order.end());  // equal ids sort next to each other
  FEDVLM_CHECK(repeated == order.end(), "placement: client {} appears twice in the cohort",
               repeated == order.end() ? -1 : *repeated);
  return order;
}

std::int64_t makespan(const std::vector<std::int64_t>& load) { return *std::max_element(load.begin(), load.end()); }

Placement sorted(Placement placement) {
  for (auto& clients : placement) std::sort(clients.begin(), clients.end());
  return placement;
}

}  // namespace

ClientOwnership::ClientOwnership(std::int64_t num_clients) : first_{0, num_clients} {
  FEDVLM_CHECK(num_clients >= 0, "ownership of {} clients", num_clients);
}

ClientOwnership ClientOwnership::aligned_with_shards(std::span<const std::int32_t> client_shard, int ranks) {
  FEDVLM_CHECK(ranks >= 1, "ownership needs at least one rank, got {}", ranks);
  FEDVLM_CHECK(std::is_sorted(client_shard.begin(), client_shard.end()),
               "ownership: clients must be stored in shards of contiguous ids");
  const auto clients = static_cast<std::int64_t>(client_shard.size());
  const std::int64_t shards = clients == 0 ? 0 : std::int64_t{client_shard.back()} + 1;
  ClientOwnership ownership(clients);
  ownership.first_.assign(static_cast<std::size_t>(ranks) + 1, clients);
  for (int rank = 0; rank < ranks; ++rank) {
    std::int64_t first = 0;
    if (shards >= ranks) {  // the first client of shard r·S/R
      const auto shard = static_cast<std::int32_t>(rank * shards / ranks);
      first = std::lower_bound(client_shard.begin(), client_shard.end(), shard) - client_shard.begin();
    } else {
      first = rank * clients / ranks;
    }
    ownership.first_[static_cast<std::size_t>(rank)] = first;
  }
  return ownership;
}

int ClientOwnership::home(std::int64_t client) const {
  FEDVLM_CHECK(client >= 0 && client < num_clients(), "client {} is outside the federation of {} clients", client,
               num_clients());
  // The last rank whose block starts at or before the client (empty blocks are skipped).
  return static_cast<int>(std::upper_bound(first_.begin(), first_.end() - 1, client) - first_.begin()) - 1;
}

Placement place_clients(std::span<const std::int64_t> cohort, std::span<const std::int64_t> work_of_client,
                        int world_size, const ClientOwnership* ownership) {
  FEDVLM_CHECK(world_size >= 1, "placement needs at least one rank, got {}", world_size);
  const std::vector<std::int64_t> order = lpt_order(cohort, work_of_client);
  const auto ranks = static_cast<std::size_t>(world_size);

  Placement lpt(ranks);
  std::vector<std::int64_t> lpt_load(ranks, 0);
  for (const std::int64_t client : order) {
    const std::size_t rank = least_loaded(lpt_load);
    lpt[rank].push_back(client);
    lpt_load[rank] += work(work_of_client, client);
  }
  if (ownership == nullptr || ownership->ranks() != world_size) return sorted(std::move(lpt));

  const std::int64_t cap = makespan(lpt_load);
  Placement home_first(ranks);
  std::vector<std::int64_t> load(ranks, 0);
  std::vector<std::int64_t> away;
  for (const std::int64_t client : order) {
    const auto home = static_cast<std::size_t>(ownership->home(client));
    if (load[home] + work(work_of_client, client) <= cap) {
      home_first[home].push_back(client);
      load[home] += work(work_of_client, client);
    } else {
      away.push_back(client);
    }
  }
  for (const std::int64_t client : away) {
    const std::size_t rank = least_loaded(load);
    home_first[rank].push_back(client);
    load[rank] += work(work_of_client, client);
  }
  return makespan(load) <= cap ? sorted(std::move(home_first)) : sorted(std::move(lpt));
}

}  // namespace fedvlm::fl
