// ClientData: a rank's view of the training data, read from the dataset's shards on demand.
// Clients come back round after round, so a rank caches the data of the clients it is home to
// (fl::ClientOwnership), least recently used first out, up to run.client_cache_mb. Clients
// trained away from home are read each time. The samples handed out stay valid while held,
// whatever the cache evicts meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "fedvlm/data/dataset.hpp"

namespace fedvlm::sim {

class ClientData {
 public:
  using Samples = std::shared_ptr<const data::Samples>;

  // budget_bytes < 0: unbounded. `cacheable(id)`: whether to cache a client (default: all).
  explicit ClientData(data::DatasetReader& reader, std::int64_t budget_bytes = -1,
                      std::function<bool(std::int64_t)> cacheable = {});

  // Client `id`'s samples; id kCentralizedClient is the union of every client (centralized
  // baseline; cached whatever its size, as the one entry the budget then allows).
  Samples samples(std::int64_t id);
  // How many samples client `id` has, from the dataset's metadata (nothing is read).
  std::int64_t sample_count(std::int64_t id) const;
  double read_seconds() const;
  std::int64_t cached_bytes() const;
  std::int64_t cached_clients() const;

  static constexpr std::int64_t kCentralizedClient = -1;

 private:
  struct Entry {
    Samples samples;
    std::int64_t bytes = 0;
    std::list<std::int64_t>::iterator lru;
  };
  void evict_locked(std::int64_t keep);

  data::DatasetReader& reader_;
  const std::int64_t budget_bytes_;
  const std::function<bool(std::int64_t)> cacheable_;
  mutable std::mutex mutex_;
  std::unordered_map<std::int64_t, Entry> cache_;
  std::list<std::int64_t> lru_;  // most recently used first
  std::int64_t cached_bytes_ = 0;
  double read_seconds_ = 0.0;
};

// The bytes a client's samples take in memory.
std::int64_t memory_bytes(const data::Samples& samples);

}  // namespace fedvlm::sim
