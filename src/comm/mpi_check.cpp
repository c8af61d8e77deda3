#include "fedvlm/comm/mpi_check.hpp"

#include <string>

#include "fedvlm/core/error.hpp"

namespace fedvlm::comm::detail {

void throw_mpi_failure(int error_code, const char* expression, std::source_location where) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  std::string reason;
  if (MPI_Error_string(error_code, text, &length) == MPI_SUCCESS) {
    reason = fmt::format("returned error {}: {}", error_code, std::string(text, static_cast<std::size_t>(length)));
  } else {
    reason = fmt::format("returned error {}", error_code);
  }
  fedvlm::detail::throw_call_failure("MPI", expression, reason, where);
}

}  // namespace fedvlm::comm::detail
