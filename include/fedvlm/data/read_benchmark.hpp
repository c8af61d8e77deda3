// Read throughput of the dataset format: one process reading whole clients in random order,
// the access pattern of a rank training its cohort (`fedvlm bench` reports it).
#pragma once

#include <cstdint>
#include <filesystem>

namespace fedvlm::data {

struct ReadBenchmark {
  std::int64_t clients_read = 0;
  std::int64_t samples = 0;
  std::int64_t image_bytes = 0;
  double seconds = 0;
  double samples_per_second() const { return seconds > 0 ? static_cast<double>(samples) / seconds : 0; }
  double megabytes_per_second() const { return seconds > 0 ? static_cast<double>(image_bytes) / 1e6 / seconds : 0; }
};

// Opens `dir` afresh (cold handle cache) and reads `client_reads` clients drawn uniformly with
// replacement from a stream keyed by `seed`.
ReadBenchmark bench_read(const std::filesystem::path& dir, std::int64_t client_reads, std::uint64_t seed = 0);

}  // namespace fedvlm::data
