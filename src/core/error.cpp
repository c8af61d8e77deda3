#include "fedvlm/core/error.hpp"

#include <atomic>

namespace fedvlm {
namespace {
std::atomic<int> g_rank{0};
thread_local int t_rank = -1;
}  // namespace

int current_rank() { return t_rank >= 0 ? t_rank : g_rank.load(std::memory_order_relaxed); }
void set_current_rank(int rank) { g_rank.store(rank, std::memory_order_relaxed); }
void set_thread_rank(int rank) { t_rank = rank; }

namespace detail {
void throw_call_failure(const char* library, const char* expression, const std::string& reason,
                        std::source_location where) {
  throw Error(fmt::format("{} call failed on rank {}: {} {} ({}:{})", library, current_rank(), expression, reason,
                          where.file_name(), where.line()));
}
}  // namespace detail
}  // namespace fedvlm
