// configure_threads: torch's intra-op threads, and no second thread pool inside an OpenBLAS.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdlib>

#include <torch/torch.h>

#include "fedvlm/sim/setup.hpp"

namespace {

TEST(Threads, TorchGetsTheRequestedThreadsAndOpenBlasRunsOnTheCallingThread) {
  ASSERT_EQ(std::getenv("OPENBLAS_NUM_THREADS"), nullptr) << "the test needs OpenBLAS at its own default";
  using GetThreads = int (*)();
  using SetThreads = void (*)(int);
  auto* get_blas = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  auto* set_blas = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (get_blas != nullptr) set_blas(2);  // as OpenBLAS starts on a multi-core machine
  EXPECT_EQ(fedvlm::sim::configure_threads(2), 2);
  EXPECT_EQ(torch::get_num_threads(), 2);
  if (get_blas == nullptr) GTEST_SKIP() << "this LibTorch does not use OpenBLAS";
  EXPECT_EQ(get_blas(), 1);
  EXPECT_EQ(fedvlm::sim::configure_threads(1), 1);
  EXPECT_EQ(torch::get_num_threads(), 1);
}

}  // namespace
