#include "population/source_sampler.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "partition/label_categories.hpp"

namespace fedvlm::prep {

void check_population_partition(const PartitionParams& params) {
  make_partitioner(params.method);  // unknown names: the usual message listing them
  if (params.method == "iid") return;
  if (params.method == "dirichlet-mix") {
    if (!(params.alpha > 0.0)) throw InputError(fmt::format("--partition dirichlet-mix needs --alpha > 0, got {}", params.alpha));
    return;
  }
  if (params.method == "dirichlet")
    throw InputError(
        "--partition dirichlet splits each class's pool images over the clients, which does not apply when "
        "--samples-per-client draws samples with replacement: use --partition dirichlet-mix --alpha A (a Dir(A) class "
        "mix per client) for label skew");
  if (params.method == "quantity")
    throw InputError(
        "--partition quantity does not apply with --samples-per-client: client sizes come from the SPEC "
        "(e.g. --samples-per-client lognormal:MEAN,SIGMA); use --partition iid or dirichlet-mix");
  throw InputError(fmt::format("--partition {} does not apply with --samples-per-client (samples are drawn with "
                               "replacement): use --partition iid or dirichlet-mix",
                               params.method));
}

SourceSampler::SourceSampler(std::span<const std::int64_t> pool, std::span<const std::int32_t> pool_labels,
                             const PartitionParams& params)
    : params_(params), by_class_(params.method == "dirichlet-mix"), pool_(pool.begin(), pool.end()) {
  check_population_partition(params);
  FEDVLM_CHECK(pool.size() == pool_labels.size(), "{} pool items but {} labels", pool.size(), pool_labels.size());
  if (pool.empty()) throw InputError("the client pool is empty: nothing to draw client samples from");
  if (!by_class_) return;
  const auto categories = label_categories(pool_labels, params.alpha, params.method);
  std::vector<std::vector<std::int64_t>> members(static_cast<std::size_t>(categories.count));
  for (std::size_t i = 0; i < pool.size(); ++i) members[static_cast<std::size_t>(categories.of_sample[i])].push_back(pool[i]);
  for (auto& items : members)
    if (!items.empty()) items_of_class_.push_back(std::move(items));
}

std::vector<std::int64_t> SourceSampler::client_items(std::int64_t client, std::int64_t count) const {
  std::vector<std::int64_t> items(static_cast<std::size_t>(count));
  if (!by_class_) {
    for (std::int64_t i = 0; i < count; ++i) {
      Rng rng(StreamKey{params_.seed, "prep-pop-source", client, i});
      items[static_cast<std::size_t>(i)] = pool_[static_cast<std::size_t>(rng.below(pool_.size()))];
    }
    return items;
  }
  Rng mix_rng(StreamKey{params_.seed, "prep-pop-mix", 0, client});
  const auto mix = mix_rng.dirichlet(params_.alpha, items_of_class_.size());
  std::vector<double> cumulative(mix.size());
  double total = 0.0;
  for (std::size_t k = 0; k < mix.size(); ++k) cumulative[k] = total += mix[k];
  for (std::int64_t i = 0; i < count; ++i) {
    Rng rng(StreamKey{params_.seed, "prep-pop-source", client, i});
    const double u = rng.uniform() * total;
    // The first class whose cumulative share exceeds u (u < total, so one does): never a class of share 0.
    const auto k = std::min(mix.size() - 1, static_cast<std::size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), u) -
                                                                    cumulative.begin()));
    const auto& members = items_of_class_[k];
    items[static_cast<std::size_t>(i)] = members[static_cast<std::size_t>(rng.below(members.size()))];
  }
  return items;
}

}  // namespace fedvlm::prep
