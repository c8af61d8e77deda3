// quantity: size skew with iid content. Client shares come from Dir(alpha) (small alpha: a few
// large clients) or from a log-normal(0, sigma) weight per client (FedLab's unbalanced split);
// the shuffled samples are cut into consecutive blocks of those sizes.
#include "partition/methods.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {
namespace {

// Integer sizes proportional to `weights`, summing to `total` (largest remainders round up).
std::vector<std::int64_t> apportion(const std::vector<double>& weights, std::int64_t total) {
  const double weight_sum = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<std::int64_t> sizes(weights.size());
  std::vector<std::pair<double, std::size_t>> remainders(weights.size());
  std::int64_t given = 0;
  for (std::size_t c = 0; c < weights.size(); ++c) {
    const double exact = static_cast<double>(total) * weights[c] / weight_sum;
    sizes[c] = static_cast<std::int64_t>(std::floor(exact));
    given += sizes[c];
    remainders[c] = {exact - static_cast<double>(sizes[c]), c};
  }
  std::sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (std::int64_t r = 0; r < total - given; ++r) ++sizes[remainders[static_cast<std::size_t>(r) % sizes.size()].second];
  return sizes;
}

class QuantityPartitioner final : public Partitioner {
 public:
  std::string_view name() const override { return "quantity"; }
  std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams& params,
                                   Rng& rng) const override {
    const auto clients = static_cast<std::size_t>(input.num_clients);
    std::vector<double> weights;
    if (params.quantity_dist == "dirichlet") {
      if (!(params.alpha > 0.0)) throw InputError(fmt::format("--alpha must be positive for quantity skew, got {}", params.alpha));
      weights = rng.dirichlet(params.alpha, clients);
    } else if (params.quantity_dist == "lognormal") {
      if (!(params.sigma >= 0.0)) throw InputError(fmt::format("--sigma must be non-negative, got {}", params.sigma));
      weights.resize(clients);
      for (auto& weight : weights) weight = std::exp(params.sigma * rng.normal());
    } else {
      throw InputError(fmt::format("unknown --quantity-dist '{}': valid are dirichlet, lognormal", params.quantity_dist));
    }
    const auto sizes = apportion(weights, input.size());
    std::vector<std::int64_t> order(static_cast<std::size_t>(input.size()));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    rng.shuffle(order);
    std::vector<std::int64_t> assignment(order.size());
    std::size_t position = 0;
    for (std::size_t c = 0; c < clients; ++c)
      for (std::int64_t k = 0; k < sizes[c]; ++k) assignment[static_cast<std::size_t>(order[position++])] = static_cast<std::int64_t>(c);
    return assignment;
  }
};

}  // namespace

std::unique_ptr<Partitioner> make_quantity_partitioner() { return std::make_unique<QuantityPartitioner>(); }

}  // namespace fedvlm::prep
