#include "partition/partitioner.hpp"

#include <algorithm>
#include <array>

#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "partition/methods.hpp"

namespace fedvlm::prep {
namespace {

constexpr std::array<std::string_view, 6> kMethods = {"iid", "dirichlet", "dirichlet-mix", "quantity", "task", "natural"};
constexpr int kResampleAttempts = 10;

// Moves random samples from the currently largest client to each client below `min_samples`.
// Feasibility (total >= clients * min) was checked, so a donor above the minimum always exists.
void rebalance(std::vector<std::int64_t>& assignment, std::int64_t num_clients, std::int64_t min_samples, Rng& rng) {
  std::vector<std::vector<std::int64_t>> members(static_cast<std::size_t>(num_clients));
  for (std::size_t i = 0; i < assignment.size(); ++i) members[static_cast<std::size_t>(assignment[i])].push_back(static_cast<std::int64_t>(i));
  std::int64_t moved = 0;
  for (auto& receiver : members) {
    while (static_cast<std::int64_t>(receiver.size()) < min_samples) {
      auto& donor = *std::max_element(members.begin(), members.end(),
                                      [](const auto& a, const auto& b) { return a.size() < b.size(); });
      const auto slot = static_cast<std::size_t>(rng.below(donor.size()));
      receiver.push_back(donor[slot]);
      donor[slot] = donor.back();
      donor.pop_back();
      ++moved;
    }
  }
  for (std::size_t c = 0; c < members.size(); ++c)
    for (const auto sample : members[c]) assignment[static_cast<std::size_t>(sample)] = static_cast<std::int64_t>(c);
  log::info("partition: moved {} samples from the largest clients to honour --min-samples {}", moved, min_samples);
}

// The smallest client (lowest id on ties).
std::int64_t smallest_client(const std::vector<std::int64_t>& sizes) {
  return std::min_element(sizes.begin(), sizes.end()) - sizes.begin();
}

}  // namespace

std::span<const std::string_view> partition_methods() { return kMethods; }

std::unique_ptr<Partitioner> make_partitioner(std::string_view method) {
  if (method == "iid") return make_iid_partitioner();
  if (method == "dirichlet") return make_dirichlet_partitioner();
  if (method == "dirichlet-mix") return make_dirichlet_mix_partitioner();
  if (method == "quantity") return make_quantity_partitioner();
  if (method == "task") return make_task_partitioner();
  if (method == "natural") return make_natural_partitioner();
  throw InputError(fmt::format("unknown partition '{}': valid are {}", method, fmt::join(kMethods, ", ")));
}

std::vector<std::int64_t> client_sizes(std::span<const std::int64_t> assignment, std::int64_t num_clients) {
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(num_clients), 0);
  for (const auto client : assignment) {
    FEDVLM_CHECK(client >= 0 && client < num_clients, "client {} outside [0, {})", client, num_clients);
    ++sizes[static_cast<std::size_t>(client)];
  }
  return sizes;
}

std::vector<std::int64_t> partition_samples(const PartitionInput& input, const PartitionParams& params) {
  const auto partitioner = make_partitioner(params.method);
  if (input.num_clients <= 0) throw InputError(fmt::format("--clients must be positive, got {}", input.num_clients));
  if (input.labels.size() != input.tasks.size())
    throw Error(fmt::format("partition input has {} labels but {} tasks", input.labels.size(), input.tasks.size()));
  if (params.min_samples < 0) throw InputError(fmt::format("--min-samples must be >= 0, got {}", params.min_samples));
  if (input.size() < input.num_clients * params.min_samples)
    throw InputError(fmt::format("cannot give each of {} clients --min-samples {}: only {} training samples to partition",
                                 input.num_clients, params.min_samples, input.size()));

  const bool may_redraw = partitioner->repair() == MinSamplesRepair::kResampleThenRebalance;
  std::vector<std::int64_t> assignment;
  std::vector<std::int64_t> sizes;
  for (int attempt = 0; attempt < (may_redraw ? kResampleAttempts : 1); ++attempt) {
    Rng rng(StreamKey{params.seed, "prep-partition", attempt, 0});
    assignment = partitioner->assign(input, params, rng);
    FEDVLM_CHECK(static_cast<std::int64_t>(assignment.size()) == input.size(), "partition '{}' assigned {} of {} samples",
                 partitioner->name(), assignment.size(), input.size());
    sizes = client_sizes(assignment, input.num_clients);
    const auto smallest = smallest_client(sizes);
    if (sizes[static_cast<std::size_t>(smallest)] >= params.min_samples) return assignment;
    log::debug("partition attempt {}: client {} has {} samples < --min-samples {}", attempt, smallest,
               sizes[static_cast<std::size_t>(smallest)], params.min_samples);
  }
  const auto smallest = smallest_client(sizes);
  if (!may_redraw)
    throw InputError(fmt::format("partition '{}' leaves client {} with {} samples, fewer than --min-samples {}; "
                                 "use fewer clients or a smaller --min-samples",
                                 partitioner->name(), smallest, sizes[static_cast<std::size_t>(smallest)], params.min_samples));
  Rng rng(StreamKey{params.seed, "prep-partition-rebalance", 0, 0});
  rebalance(assignment, input.num_clients, params.min_samples, rng);
  return assignment;
}

}  // namespace fedvlm::prep
