// dirichlet: label skew, the per-class scheme of the literature (Yurochkin et al. 2019,
// Wang et al. 2020, NIID-Bench: Li et al. 2022). For every class c, proportions
// p_c ~ Dir(alpha, ..., alpha) over the K clients are drawn and the class's shuffled samples are
// cut at floor(n_c * (p_c[0] + ... + p_c[k])): client k holds about p_c[k] * n_c of them. Client
// sizes are therefore unequal, and at small alpha a client may get no sample at all;
// partition_samples redraws (then rebalances) to honour --min-samples. Unlabeled samples (-1)
// form one extra class.
#include <algorithm>
#include <cmath>

#include "partition/label_categories.hpp"
#include "partition/methods.hpp"

namespace fedvlm::prep {
namespace {

class DirichletPartitioner final : public Partitioner {
 public:
  std::string_view name() const override { return "dirichlet"; }
  std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams& params,
                                   Rng& rng) const override {
    const auto categories = label_categories(input.labels, params.alpha, name());
    std::vector<std::vector<std::int64_t>> pools(static_cast<std::size_t>(categories.count));
    for (std::size_t i = 0; i < categories.of_sample.size(); ++i)
      pools[static_cast<std::size_t>(categories.of_sample[i])].push_back(static_cast<std::int64_t>(i));

    const auto clients = static_cast<std::size_t>(input.num_clients);
    std::vector<std::int64_t> assignment(categories.of_sample.size(), -1);
    for (auto& pool : pools) {
      if (pool.empty()) continue;  // an absent class draws nothing, so it does not shift later draws
      const auto shares = rng.dirichlet(params.alpha, clients);
      rng.shuffle(pool);
      const auto n = static_cast<std::int64_t>(pool.size());
      double cumulative = 0.0;
      std::int64_t begin = 0;
      for (std::size_t client = 0; client < clients; ++client) {
        cumulative += shares[client];
        // The last client takes the rest, so rounding never drops a sample.
        const std::int64_t end = client + 1 == clients
                                     ? n
                                     : std::clamp(static_cast<std::int64_t>(std::floor(cumulative * static_cast<double>(n))), begin, n);
        for (std::int64_t i = begin; i < end; ++i)
          assignment[static_cast<std::size_t>(pool[static_cast<std::size_t>(i)])] = static_cast<std::int64_t>(client);
        begin = end;
      }
    }
    return assignment;
  }
};

}  // namespace

std::unique_ptr<Partitioner> make_dirichlet_partitioner() { return std::make_unique<DirichletPartitioner>(); }

}  // namespace fedvlm::prep
