// iid: a uniform shuffle dealt round-robin, so client sizes differ by at most one.
#include "partition/methods.hpp"

#include <numeric>

namespace fedvlm::prep {
namespace {

class IidPartitioner final : public Partitioner {
 public:
  std::string_view name() const override { return "iid"; }
  std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams&, Rng& rng) const override {
    std::vector<std::int64_t> order(static_cast<std::size_t>(input.size()));
    std::iota(order.begin(), order.end(), std::int64_t{0});
    rng.shuffle(order);
    std::vector<std::int64_t> assignment(order.size());
    for (std::size_t position = 0; position < order.size(); ++position)
      assignment[static_cast<std::size_t>(order[position])] = static_cast<std::int64_t>(position) % input.num_clients;
    return assignment;
  }
};

}  // namespace

std::unique_ptr<Partitioner> make_iid_partitioner() { return std::make_unique<IidPartitioner>(); }

}  // namespace fedvlm::prep
