// ClientData: a rank's view of the training data, read from the dataset's shards on first use
// and kept in memory (clients come back round after round; Fashion-scale data is small).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

#include "fedvlm/data/dataset.hpp"

namespace fedvlm::sim {

class ClientData {
 public:
  explicit ClientData(data::DatasetReader& reader) : reader_(reader) {}

  // Client `id`'s samples; id kCentralizedClient is the union of every client (centralized baseline).
  const data::Samples& samples(std::int64_t id);
  double read_seconds() const { return read_seconds_; }

  static constexpr std::int64_t kCentralizedClient = -1;

 private:
  data::DatasetReader& reader_;
  std::mutex mutex_;
  std::map<std::int64_t, data::Samples> cache_;
  double read_seconds_ = 0.0;
};

}  // namespace fedvlm::sim
