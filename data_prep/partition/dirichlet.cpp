// dirichlet: label skew. Each client's class proportions are drawn from Dir(alpha) and client
// sizes are equal (FedLab's client-inner Dirichlet scheme); small alpha gives clients that hold
// one or two classes, large alpha approaches iid. Samples without a label (-1) form one extra
// category so that they are still spread.
#include "partition/methods.hpp"

#include <algorithm>

#include "fedvlm/core/error.hpp"
#include "partition/category_mix.hpp"

namespace fedvlm::prep {
namespace {

class DirichletPartitioner final : public Partitioner {
 public:
  std::string_view name() const override { return "dirichlet"; }
  std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams& params,
                                   Rng& rng) const override {
    if (!(params.alpha > 0.0)) throw InputError(fmt::format("--alpha must be positive for the dirichlet partition, got {}", params.alpha));
    std::int32_t max_label = -1;
    for (const auto label : input.labels) max_label = std::max(max_label, label);
    if (max_label < 0)
      throw InputError("the dirichlet partition skews labels, but no sample has a class label; use iid, quantity or task");
    const std::int64_t unlabeled = max_label + 1;
    std::vector<std::int64_t> categories(input.labels.size());
    for (std::size_t i = 0; i < categories.size(); ++i) categories[i] = input.labels[i] < 0 ? unlabeled : input.labels[i];
    return assign_by_category_mix(categories, unlabeled + 1, input.num_clients, params.alpha, rng);
  }
};

}  // namespace

std::unique_ptr<Partitioner> make_dirichlet_partitioner() { return std::make_unique<DirichletPartitioner>(); }

}  // namespace fedvlm::prep
