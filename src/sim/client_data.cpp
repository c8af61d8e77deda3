#include "fedvlm/sim/client_data.hpp"

#include <chrono>

namespace fedvlm::sim {

const data::Samples& ClientData::samples(std::int64_t id) {
  std::lock_guard lock(mutex_);
  if (auto it = cache_.find(id); it != cache_.end()) return it->second;
  const auto start = std::chrono::steady_clock::now();
  data::Samples samples;
  if (id == kCentralizedClient) {
    for (std::int64_t client = 0; client < reader_.info().num_clients; ++client) {
      auto part = reader_.read_client(client);
      if (samples.empty()) samples.image_shape = part.image_shape;
      samples.append(part);
    }
  } else {
    samples = reader_.read_client(id);
  }
  read_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return cache_.emplace(id, std::move(samples)).first->second;
}

}  // namespace fedvlm::sim
