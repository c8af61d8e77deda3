// Progress lines with an ETA for the long steps of a build (rendering, decoding, writing).
// advance() may be called from several threads; a line is logged at most every two seconds.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace fedvlm::prep {

class Progress {
 public:
  Progress(std::string label, std::int64_t total);
  void advance(std::int64_t done = 1);
  // Logs the final line with the elapsed time; returns the seconds taken.
  double finish();

 private:
  std::string label_;
  std::int64_t total_;
  std::atomic<std::int64_t> done_{0};
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_line_;
  std::mutex line_mutex_;
};

// Runs body(begin, end) over [0, n) in chunks on `threads` threads (0: hardware concurrency).
// Results must not depend on which thread runs a chunk; the first exception is rethrown.
void parallel_for(std::int64_t n, const std::function<void(std::int64_t begin, std::int64_t end)>& body,
                  int threads = 0);

}  // namespace fedvlm::prep
