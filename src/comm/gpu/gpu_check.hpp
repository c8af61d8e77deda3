// FEDVLM_CHECK_CUDA / FEDVLM_CHECK_NCCL: run a CUDA runtime or NCCL call and throw
// fedvlm::Error naming the call, the library's explanation and the rank when it fails.
// CUDA builds only (included from src/comm/gpu/ sources).
#pragma once

#include <source_location>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "fedvlm/core/error.hpp"

#define FEDVLM_CHECK_CUDA(call)                                                                       \
  do {                                                                                                \
    const cudaError_t fedvlm_cuda_status_ = (call);                                                   \
    if (fedvlm_cuda_status_ != cudaSuccess) [[unlikely]]                                              \
      ::fedvlm::detail::throw_call_failure(                                                           \
          "CUDA", #call,                                                                              \
          ::fmt::format("returned {}: {}", cudaGetErrorName(fedvlm_cuda_status_),                     \
                        cudaGetErrorString(fedvlm_cuda_status_)),                                     \
          std::source_location::current());                                                           \
  } while (false)

#define FEDVLM_CHECK_NCCL(call)                                                                       \
  do {                                                                                                \
    const ncclResult_t fedvlm_nccl_status_ = (call);                                                  \
    if (fedvlm_nccl_status_ != ncclSuccess) [[unlikely]]                                              \
      ::fedvlm::detail::throw_call_failure(                                                           \
          "NCCL", #call,                                                                              \
          ::fmt::format("returned {}: {}", static_cast<int>(fedvlm_nccl_status_),                     \
                        ncclGetErrorString(fedvlm_nccl_status_)),                                     \
          std::source_location::current());                                                           \
  } while (false)
