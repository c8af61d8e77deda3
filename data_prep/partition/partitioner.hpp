// Partitioners: who holds which training sample. One small interface shared by every dataset
// builder (fashion, llava); one file per method under data_prep/partition/.
//   iid            uniform shuffle, equal client sizes
//   dirichlet      label skew: each class split over the clients by proportions from Dir(alpha)
//   dirichlet-mix  label skew: each client's class mix drawn from Dir(alpha), equal client sizes
//   quantity       size skew: client sizes from Dir(alpha) or log-normal(0, sigma)
//   task           task skew: one task per client, or each client's task mix from Dir(task_alpha)
//   natural        the source says which client holds a sample (e.g. LLaVA client_N.json files)
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fedvlm/core/rng.hpp"

namespace fedvlm::prep {

struct PartitionInput {
  std::span<const std::int32_t> labels;           // class id per sample, -1 when none
  std::span<const std::uint8_t> tasks;            // task index per sample
  std::span<const std::int64_t> natural_clients;  // client per sample (only "natural" reads it)
  std::int64_t num_clients = 0;
  std::int64_t size() const { return static_cast<std::int64_t>(tasks.size()); }
};

struct PartitionParams {
  std::string method = "iid";
  double alpha = 0.5;                       // dirichlet(-mix): label concentration; quantity: size concentration
  double task_alpha = 0.0;                  // task: <= 0 gives one task per client, > 0 a Dir(task_alpha) mix
  std::string quantity_dist = "dirichlet";  // quantity: "dirichlet" or "lognormal"
  double sigma = 1.0;                       // quantity with lognormal: sigma of log(size)
  std::int64_t min_samples = 1;             // every client holds at least this many samples
  std::uint64_t seed = 0;
};

// How --min-samples can be honoured when a draw leaves a client short.
enum class MinSamplesRepair {
  kResampleThenRebalance,  // redraw a bounded number of times, then move samples from the largest clients
  kNone,                   // the assignment is structural (natural, one task per client): fail clearly
};

class Partitioner {
 public:
  virtual ~Partitioner() = default;
  virtual std::string_view name() const = 0;
  // The client index of every sample; all randomness from `rng`.
  virtual std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams& params,
                                           Rng& rng) const = 0;
  virtual MinSamplesRepair repair() const { return MinSamplesRepair::kResampleThenRebalance; }
};

// The method names, in the order --help lists them.
std::span<const std::string_view> partition_methods();
// Throws InputError listing the valid names when `method` is unknown.
std::unique_ptr<Partitioner> make_partitioner(std::string_view method);

// Assigns every sample to exactly one client with params.method, honouring params.min_samples
// (redraws from streams {seed, "prep-partition", attempt}, then rebalances) or throwing
// InputError naming the client and its count.
std::vector<std::int64_t> partition_samples(const PartitionInput& input, const PartitionParams& params);

std::vector<std::int64_t> client_sizes(std::span<const std::int64_t> assignment, std::int64_t num_clients);

}  // namespace fedvlm::prep
