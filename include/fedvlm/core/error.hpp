// Errors: library code throws fedvlm::Error with the context a user needs (file, key, value,
// client, rank); `main` catches it, prints one line and aborts the MPI job.
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace fedvlm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Bad user input (config, dataset, command line): reported without a stack of internals.
class InputError : public Error {
 public:
  using Error::Error;
};

// The rank reported in errors and logs. The communicator factory sets it for the process;
// the InProcess backend (threads act as ranks) sets it per thread.
int current_rank();
void set_current_rank(int rank);
void set_thread_rank(int rank);

namespace detail {
[[noreturn]] void throw_call_failure(const char* library, const char* expression, const std::string& reason,
                                     std::source_location where);
}  // namespace detail

}  // namespace fedvlm

// Throws fedvlm::Error naming the failed condition and a formatted explanation.
#define FEDVLM_CHECK(condition, ...)                                                   \
  do {                                                                                 \
    if (!(condition)) [[unlikely]] {                                                   \
      throw ::fedvlm::Error(::fmt::format("{} ({})", ::fmt::format(__VA_ARGS__), #condition)); \
    }                                                                                  \
  } while (false)

// Library-call checks: each records the call's text, the reason and the rank.
#define FEDVLM_CHECK_HDF5(expression)                                                          \
  [&]() {                                                                                      \
    auto fedvlm_result_ = (expression);                                                        \
    if (fedvlm_result_ < 0) [[unlikely]]                                                       \
      ::fedvlm::detail::throw_call_failure("HDF5", #expression, "returned a negative status",   \
                                           std::source_location::current());                   \
    return fedvlm_result_;                                                                     \
  }()
