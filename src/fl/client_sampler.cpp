#include "fedvlm/fl/client_sampler.hpp"

#include <algorithm>
#include <unordered_set>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/rng.hpp"

namespace fedvlm::fl {

ClientSampler::ClientSampler(std::int64_t num_clients, std::int64_t clients_per_round, std::uint64_t seed)
    : num_clients_(num_clients), cohort_size_(clients_per_round == 0 ? num_clients : clients_per_round), seed_(seed) {
  if (num_clients <= 0) throw InputError(fmt::format("the federation has {} clients; it needs at least one", num_clients));
  if (clients_per_round < 0 || clients_per_round > num_clients)
    throw InputError(fmt::format("fl.clients_per_round = {} must be in [0, {}] (0: all {} clients every round)",
                                 clients_per_round, num_clients, num_clients));
}

std::vector<std::int64_t> ClientSampler::cohort(std::int64_t round) const {
  FEDVLM_CHECK(round >= 0, "cohort of a negative round {}", round);
  std::vector<std::int64_t> clients;
  if (cohort_size_ == num_clients_) {
    clients.resize(static_cast<std::size_t>(num_clients_));
    for (std::int64_t i = 0; i < num_clients_; ++i) clients[static_cast<std::size_t>(i)] = i;
    return clients;
  }
  // Floyd's algorithm: for j = N−k … N−1 take t uniform in [0, j], or j itself when t is taken.
  // Every k-subset is equally likely; time and memory O(k), whatever the population.
  Rng rng(StreamKey{seed_, "cohort", round, 0});
  std::unordered_set<std::int64_t> chosen;
  chosen.reserve(static_cast<std::size_t>(cohort_size_));
  for (std::int64_t j = num_clients_ - cohort_size_; j < num_clients_; ++j) {
    const auto t = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(j) + 1));
    chosen.insert(chosen.contains(t) ? j : t);
  }
  clients.assign(chosen.begin(), chosen.end());
  std::sort(clients.begin(), clients.end());
  return clients;
}

}  // namespace fedvlm::fl
