// Which GPU a rank uses: cuda_device_for (local rank modulo the GPUs seen) and node_local_rank's
// fallback to the launcher's variables where no MPI communicator exists (this binary never makes
// one: it runs without a starter). tests/mpi checks node_local_rank under mpiexec.
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

TEST(DeviceMapping, LocalRankModuloTheGpusSeen) {
  EXPECT_EQ(cuda_device_for(0, 1), 0);
  EXPECT_EQ(cuda_device_for(3, 1), 0);  // every rank on one GPU
  EXPECT_EQ(cuda_device_for(1, 4), 1);
  EXPECT_EQ(cuda_device_for(3, 4), 3);
  EXPECT_EQ(cuda_device_for(5, 4), 1);  // more ranks than GPUs: round-robin
  EXPECT_EQ(cuda_device_for(7, 8), 7);
}

TEST(DeviceMapping, NoGpuOrANegativeRankIsAnError) {
  EXPECT_THROW(cuda_device_for(0, 0), Error);
  EXPECT_THROW(cuda_device_for(1, -1), Error);
  EXPECT_THROW(cuda_device_for(-1, 2), Error);
}

TEST(DeviceMapping, WithoutACommunicatorTheLaunchersVariablesGiveTheLocalRank) {
  {
    ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK", "3");
    ScopedEnv slurm("SLURM_LOCALID", "1");
    EXPECT_EQ(node_local_rank(), 3);  // mpirun's variable first
    EXPECT_EQ(cuda_device_for(node_local_rank(), 2), 1);
  }
  {
    ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK", nullptr);
    ScopedEnv slurm("SLURM_LOCALID", "2");
    EXPECT_EQ(node_local_rank(), 2);
  }
  {
    ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK", nullptr);
    ScopedEnv slurm("SLURM_LOCALID", nullptr);
    EXPECT_EQ(node_local_rank(), 0);
  }
}

}  // namespace
}  // namespace fedvlm::comm
