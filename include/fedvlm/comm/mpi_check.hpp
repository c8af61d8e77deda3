// FEDVLM_CHECK_MPI(call): runs an MPI call and throws fedvlm::Error naming the call, MPI's
// explanation (MPI_Error_string) and the rank when it does not return MPI_SUCCESS.
// Errors only come back on communicators whose error handler is MPI_ERRORS_RETURN (the
// MpiCommunicator sets it); the default handler aborts the job inside the call.
#pragma once

#include <source_location>

#include <mpi.h>

namespace fedvlm::comm::detail {
[[noreturn]] void throw_mpi_failure(int error_code, const char* expression, std::source_location where);
}  // namespace fedvlm::comm::detail

#define FEDVLM_CHECK_MPI(call)                                                                   \
  do {                                                                                           \
    const int fedvlm_mpi_code_ = (call);                                                         \
    if (fedvlm_mpi_code_ != MPI_SUCCESS) [[unlikely]]                                            \
      ::fedvlm::comm::detail::throw_mpi_failure(fedvlm_mpi_code_, #call, std::source_location::current()); \
  } while (false)
