// natural: the source already says which client holds a sample (LLaVA client_N.json files).
#include "partition/methods.hpp"

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {
namespace {

class NaturalPartitioner final : public Partitioner {
 public:
  std::string_view name() const override { return "natural"; }
  std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams&, Rng&) const override {
    if (input.natural_clients.size() != input.tasks.size())
      throw InputError("the natural partition needs a source that names each sample's client "
                       "(e.g. llava --json DIR with clients/train/client_N.json); this source does not");
    for (std::size_t i = 0; i < input.natural_clients.size(); ++i) {
      const auto client = input.natural_clients[i];
      if (client < 0 || client >= input.num_clients)
        throw InputError(fmt::format("sample {} names client {}, outside [0, {})", i, client, input.num_clients));
    }
    return {input.natural_clients.begin(), input.natural_clients.end()};
  }
  MinSamplesRepair repair() const override { return MinSamplesRepair::kNone; }
};

}  // namespace

std::unique_ptr<Partitioner> make_natural_partitioner() { return std::make_unique<NaturalPartitioner>(); }

}  // namespace fedvlm::prep
