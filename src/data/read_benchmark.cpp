#include "fedvlm/data/read_benchmark.hpp"

#include <chrono>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/data/dataset.hpp"

namespace fedvlm::data {

ReadBenchmark bench_read(const std::filesystem::path& dir, std::int64_t client_reads, std::uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  DatasetReader reader(dir);
  const std::int64_t clients = reader.info().num_clients;
  FEDVLM_CHECK(clients > 0, "{}: no clients to read", dir.string());
  Rng rng(StreamKey{seed, "bench_read", 0, 0});
  ReadBenchmark result;
  for (std::int64_t r = 0; r < client_reads; ++r) {
    Samples samples = reader.read_client(static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(clients))));
    result.samples += samples.size();
    result.image_bytes += static_cast<std::int64_t>(samples.images.size());
    ++result.clients_read;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace fedvlm::data
