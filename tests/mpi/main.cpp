// test_mpi's main: runs the same tests alone (Local backend) and under mpiexec (MPI backend).
// MPI starts before GoogleTest; only rank 0 prints the normal report (other ranks print their
// own failures, tagged with the rank); every rank exits non-zero if any rank failed.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <exception>

#include "fedvlm/comm/communicator.hpp"

namespace {

class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.summary());
  }

 private:
  int rank_;
};

bool mpi_running() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    fedvlm::comm::initialize(&argc, &argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "test_mpi: %s\n", error.what());
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  if (mpi_running()) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  const int failed_here = RUN_ALL_TESTS() != 0 ? 1 : 0;
  int failed = failed_here;
  if (mpi_running()) MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0 && failed && !failed_here) {
    std::fprintf(stderr, "test_mpi: tests failed on other ranks (see the [rank N] lines above)\n");
  }
  fedvlm::comm::finalize();
  return failed;
}
