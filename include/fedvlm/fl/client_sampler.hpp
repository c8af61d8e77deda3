// ClientSampler: the cohort of a round. Every rank computes the same cohort from (seed, round)
// alone, drawn from the stream StreamKey{seed, "cohort", round, 0}: no message is needed.
#pragma once

#include <cstdint>
#include <vector>

namespace fedvlm::fl {

class ClientSampler {
 public:
  // clients_per_round = 0: full participation. Throws InputError when it exceeds num_clients.
  ClientSampler(std::int64_t num_clients, std::int64_t clients_per_round, std::uint64_t seed);

  // clients_per_round distinct ids from [0, num_clients), uniform without replacement, sorted.
  // O(clients_per_round) time and memory (Floyd's algorithm), whatever num_clients.
  std::vector<std::int64_t> cohort(std::int64_t round) const;

  std::int64_t num_clients() const { return num_clients_; }
  std::int64_t cohort_size() const { return cohort_size_; }

 private:
  std::int64_t num_clients_;
  std::int64_t cohort_size_;
  std::uint64_t seed_;
};

}  // namespace fedvlm::fl
