// Which pool item each sample of a population client renders. Population mode draws every
// sample from the client pool WITH replacement, so a partition cannot split the pool; label
// skew is a per-client class mix instead:
//   iid            every sample's item uniform over the pool
//   dirichlet-mix  client c draws its class mix q_c ~ Dir(alpha) over the classes present in
//                  the pool (stream {seed, "prep-pop-mix", 0, c}); each sample draws a class
//                  from q_c, then an item of that class uniformly
// Sample i of client c draws from stream {seed, "prep-pop-source", c, i}. The per-class
// `dirichlet` scheme and the other partitioners describe how to split a finite pool, and are
// refused (check_population_partition).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "partition/partitioner.hpp"

namespace fedvlm::prep {

// InputError unless params.method is one population mode supports (iid, dirichlet-mix).
void check_population_partition(const PartitionParams& params);

class SourceSampler {
 public:
  // pool: item ids (e.g. indices into the source images); pool_labels: their class ids (-1: none).
  SourceSampler(std::span<const std::int64_t> pool, std::span<const std::int32_t> pool_labels, const PartitionParams& params);

  // The items of client `client`'s first `count` samples, in sample order.
  std::vector<std::int64_t> client_items(std::int64_t client, std::int64_t count) const;

 private:
  PartitionParams params_;
  bool by_class_ = false;
  std::vector<std::int64_t> pool_;
  std::vector<std::vector<std::int64_t>> items_of_class_;  // classes present in the pool only
};

}  // namespace fedvlm::prep
