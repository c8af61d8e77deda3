// dirichlet-mix: label skew with equal client sizes. Each client's class proportions are drawn
// from Dir(alpha) (FedLab's client-inner Dirichlet scheme); small alpha gives clients that hold
// one or two classes, large alpha approaches iid. This was `dirichlet` before that name went to
// the per-class scheme of the literature; it draws exactly what `dirichlet` drew then, so older
// datasets can be rebuilt from their seed.
#include "partition/category_mix.hpp"
#include "partition/label_categories.hpp"
#include "partition/methods.hpp"

namespace fedvlm::prep {
namespace {

class DirichletMixPartitioner final : public Partitioner {
 public:
  std::string_view name() const override { return "dirichlet-mix"; }
  std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams& params,
                                   Rng& rng) const override {
    const auto categories = label_categories(input.labels, params.alpha, name());
    return assign_by_category_mix(categories.of_sample, categories.count, input.num_clients, params.alpha, rng);
  }
};

}  // namespace

std::unique_ptr<Partitioner> make_dirichlet_mix_partitioner() { return std::make_unique<DirichletMixPartitioner>(); }

}  // namespace fedvlm::prep
