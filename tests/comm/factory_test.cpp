// The backend factory: names, the choice Auto makes outside an MPI job, clear errors for
// backends that cannot run here, and the rank it records for errors and logs.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "comm/scoped_env.hpp"

namespace fedvlm::comm {
namespace {

using test_support::ScopedEnv;

bool any_starter_variable() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

TEST(CommFactory, ParsesBackendNames) {
  EXPECT_EQ(parse_backend("auto"), Backend::Auto);
  EXPECT_EQ(parse_backend("local"), Backend::Local);
  EXPECT_EQ(parse_backend("mpi"), Backend::Mpi);
  EXPECT_EQ(parse_backend("nccl"), Backend::Nccl);
  try {
    parse_backend("gloo");
    FAIL() << "an unknown backend name must be rejected";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("'gloo'"), std::string::npos) << error.what();
  }
}

TEST(CommFactory, DtypeSizesAndNames) {
  EXPECT_EQ(dtype_size(DType::Float32), 4u);
  EXPECT_EQ(dtype_size(DType::Float64), 8u);
  EXPECT_EQ(dtype_size(DType::Int32), 4u);
  EXPECT_EQ(dtype_size(DType::Int64), 8u);
  EXPECT_EQ(dtype_size(DType::UInt8), 1u);
  EXPECT_STREQ(dtype_name(DType::Int64), "int64");
  EXPECT_EQ((Buffer{nullptr, 3, DType::Float64, false}.bytes()), 24u);
}

TEST(CommFactory, StarterVariablesMeanLaunchedUnderMpi) {
  ScopedEnv ompi("OMPI_COMM_WORLD_SIZE", nullptr);
  ScopedEnv pmix("PMIX_RANK", nullptr);
  ScopedEnv pmi_size("PMI_SIZE", nullptr);
  ScopedEnv pmi_rank("PMI_RANK", nullptr);
  EXPECT_FALSE(launched_under_mpi());
  {
    ScopedEnv srun("PMIX_RANK", "0");
    EXPECT_TRUE(launched_under_mpi());
  }
  {
    ScopedEnv mpirun("OMPI_COMM_WORLD_SIZE", "2");
    EXPECT_TRUE(launched_under_mpi());
  }
  {
    ScopedEnv hydra("PMI_SIZE", "4");
    EXPECT_TRUE(launched_under_mpi());
  }
}

TEST(CommFactory, AutoOutsideAnMpiJobIsLocalAndSetsTheRank) {
  if (any_starter_variable()) GTEST_SKIP() << "started by an MPI launcher";
  set_current_rank(7);
  auto comm = make_communicator(Backend::Auto);
  EXPECT_EQ(comm->backend(), "local");
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(current_rank(), 0);
  EXPECT_EQ(make_communicator(Backend::Local)->backend(), "local");
}

TEST(CommFactory, MpiOutsideAnMpiJobSaysHowToStartOne) {
  if (any_starter_variable()) GTEST_SKIP() << "started by an MPI launcher";
  try {
    make_communicator(Backend::Mpi);
    FAIL() << "the mpi backend needs an MPI job";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("mpirun"), std::string::npos) << error.what();
  }
}

TEST(CommFactory, NcclIsAClearErrorWhereItCannotRun) {
  // In a build without NCCL: "not compiled into this build". In a CUDA build outside an MPI
  // job: it needs an MPI job. Either way a fedvlm::Error that names the backend.
  if (any_starter_variable()) GTEST_SKIP() << "started by an MPI launcher";
  try {
    make_communicator(Backend::Nccl);
    FAIL() << "the nccl backend cannot run here";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("nccl backend"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace fedvlm::comm
