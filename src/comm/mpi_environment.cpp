// Process-wide MPI lifetime: initialize only under an MPI starter, finalize only when asked.
#include <atomic>
#include <cstdlib>

#include <mpi.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/comm/mpi_check.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"

namespace fedvlm::comm {
namespace {
bool g_initialized_here = false;  // finalize only what initialize started
std::atomic<bool> g_joined_world{false};  // an MpiCommunicator of several ranks was made
std::atomic<int> g_node_rank{-1};         // rank on the node, from the first MpiCommunicator

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}
}  // namespace

namespace detail {
void note_world_joined() { g_joined_world.store(true); }
void note_node_rank(int rank) { g_node_rank.store(rank); }
}  // namespace detail

int node_local_rank() {
  if (const int rank = g_node_rank.load(); rank >= 0) return rank;
  return env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", 0));
}

int cuda_device_for(int local_rank, int device_count) {
  FEDVLM_CHECK(device_count >= 1, "cuda_device_for: no CUDA device to choose from (device count {})", device_count);
  FEDVLM_CHECK(local_rank >= 0, "cuda_device_for: negative local rank {}", local_rank);
  return local_rank % device_count;
}

bool launched_under_mpi() {
  // Open MPI's mpirun/mpiexec, PMIx starters (srun --mpi=pmix, prterun), PMI-1/2 (MPICH hydra,
  // srun --mpi=pmi2). A plain `srun` without an MPI plugin sets none of them: one process per task.
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"}) {
    if (std::getenv(variable) != nullptr) return true;
  }
  return false;
}

void initialize(int* argc, char*** argv) {
  if (!launched_under_mpi()) return;
  int initialized = 0;
  FEDVLM_CHECK_MPI(MPI_Initialized(&initialized));
  if (initialized) return;
  // FUNNELED: ranks may run worker threads (clients trained in parallel), but only the thread
  // that initialized MPI communicates.
  int provided = MPI_THREAD_SINGLE;
  FEDVLM_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  g_initialized_here = true;
  if (provided < MPI_THREAD_FUNNELED) {
    log::warn("MPI provides thread level {} below MPI_THREAD_FUNNELED; keep MPI calls on the main thread",
              provided);
  }
}

void abort_world(int exit_code) {
  if (!g_joined_world.load()) return;
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return;
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort should not return; make sure this rank ends if it does
}

void finalize() {
  if (!g_initialized_here) return;
  int finalized = 0;
  FEDVLM_CHECK_MPI(MPI_Finalized(&finalized));
  if (!finalized) FEDVLM_CHECK_MPI(MPI_Finalize());
  g_initialized_here = false;
}

}  // namespace fedvlm::comm
