#include "fedvlm/sim/client_data.hpp"

#include <chrono>

namespace fedvlm::sim {

std::int64_t memory_bytes(const data::Samples& samples) {
  const auto bytes = [](const auto& vector) {
    return static_cast<std::int64_t>(vector.size() * sizeof(typename std::decay_t<decltype(vector)>::value_type));
  };
  return bytes(samples.images) + bytes(samples.task) + bytes(samples.prompt) + bytes(samples.prompt_ptr) +
         bytes(samples.answer) + bytes(samples.answer_ptr) + bytes(samples.label) + bytes(samples.box);
}

ClientData::ClientData(data::DatasetReader& reader, std::int64_t budget_bytes, std::function<bool(std::int64_t)> cacheable)
    : reader_(reader), budget_bytes_(budget_bytes), cacheable_(std::move(cacheable)) {}

std::int64_t ClientData::sample_count(std::int64_t id) const {
  if (id != kCentralizedClient) return reader_.client_samples(id);
  std::int64_t total = 0;
  for (std::int64_t client = 0; client < reader_.info().num_clients; ++client) total += reader_.client_samples(client);
  return total;
}

ClientData::Samples ClientData::samples(std::int64_t id) {
  std::lock_guard lock(mutex_);
  if (auto it = cache_.find(id); it != cache_.end()) {
    lru_.erase(it->second.lru);
    lru_.push_front(id);
    it->second.lru = lru_.begin();
    return it->second.samples;
  }
  const auto start = std::chrono::steady_clock::now();
  auto samples = std::make_shared<data::Samples>();
  if (id == kCentralizedClient) {
    for (std::int64_t client = 0; client < reader_.info().num_clients; ++client) {
      auto part = reader_.read_client(client);
      if (samples->empty()) samples->image_shape = part.image_shape;
      samples->append(part);
    }
  } else {
    *samples = reader_.read_client(id);
  }
  read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (id == kCentralizedClient || !cacheable_ || cacheable_(id)) {
    lru_.push_front(id);
    const std::int64_t bytes = memory_bytes(*samples);
    cache_.emplace(id, Entry{samples, bytes, lru_.begin()});
    cached_bytes_ += bytes;
    evict_locked(id == kCentralizedClient ? id : std::int64_t{-2});
  }
  return samples;
}

// Least recently used first, until the cache fits its budget; `keep` (the centralized union) stays.
void ClientData::evict_locked(std::int64_t keep) {
  if (budget_bytes_ < 0) return;
  auto victim = lru_.end();
  while (cached_bytes_ > budget_bytes_ && victim != lru_.begin()) {
    --victim;
    if (*victim == keep) continue;
    const auto found = cache_.find(*victim);
    cached_bytes_ -= found->second.bytes;
    cache_.erase(found);
    victim = lru_.erase(victim);
  }
}

double ClientData::read_seconds() const {
  std::lock_guard lock(mutex_);
  return read_seconds_;
}

std::int64_t ClientData::cached_bytes() const {
  std::lock_guard lock(mutex_);
  return cached_bytes_;
}

std::int64_t ClientData::cached_clients() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(cache_.size());
}

}  // namespace fedvlm::sim
