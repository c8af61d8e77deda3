#include "progress.hpp"

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

#include "fedvlm/core/log.hpp"

namespace fedvlm::prep {

namespace {
constexpr auto kLineInterval = std::chrono::seconds(2);
double seconds_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

Progress::Progress(std::string label, std::int64_t total)
    : label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()), last_line_(start_) {}

void Progress::advance(std::int64_t done) {
  const auto now_done = done_ += done;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_line_ < kLineInterval) return;  // racy read, fine: only throttles logging
  std::unique_lock lock(line_mutex_, std::try_to_lock);
  if (!lock.owns_lock() || now - last_line_ < kLineInterval) return;
  last_line_ = now;
  const double elapsed = seconds_between(start_, now);
  const double eta = now_done > 0 ? elapsed * static_cast<double>(total_ - now_done) / static_cast<double>(now_done) : 0.0;
  log::info("{}: {}/{} ({:.0f}%), {:.1f} s elapsed, ETA {:.1f} s", label_, now_done, total_,
            total_ > 0 ? 100.0 * static_cast<double>(now_done) / static_cast<double>(total_) : 100.0, elapsed, eta);
}

double Progress::finish() {
  const double elapsed = seconds_between(start_, std::chrono::steady_clock::now());
  log::info("{}: {} done in {:.1f} s", label_, done_.load(), elapsed);
  return elapsed;
}

void parallel_for(std::int64_t n, const std::function<void(std::int64_t, std::int64_t)>& body, int threads) {
  if (n <= 0) return;
  const int workers = std::max(1, threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()));
  constexpr std::int64_t kChunk = 256;
  std::atomic<std::int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    while (true) {
      const std::int64_t begin = next.fetch_add(kChunk);
      if (begin >= n) return;
      try {
        body(begin, std::min(n, begin + kChunk));
      } catch (...) {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;  // stop handing out chunks
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace fedvlm::prep
