// The one place that knows every backend. A CUDA build with NCCL defines FEDVLM_HAVE_NCCL for
// this library only; no other file tests it.
#include <mpi.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/comm/mpi_communicator.hpp"
#include "fedvlm/core/error.hpp"

#ifdef FEDVLM_HAVE_NCCL
#include "gpu/nccl_communicator.hpp"
#endif

namespace fedvlm::comm {
namespace {

bool mpi_running() {
  int initialized = 0;
  int finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

int mpi_world_size() {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return size;
}

std::unique_ptr<Communicator> make_local() {
  // A rank of a larger job that thinks it is alone would silently train the whole federation.
  FEDVLM_CHECK(!mpi_running() || mpi_world_size() == 1,
               "the local backend runs one process, but this is one of {} MPI ranks: use backend 'mpi' or 'auto'",
               mpi_world_size());
  return std::make_unique<LocalCommunicator>();
}

void require_mpi(const char* backend) {
  FEDVLM_CHECK(mpi_running(), "the {} backend needs the job to be started by mpirun/mpiexec/srun --mpi=pmix{}",
               backend, launched_under_mpi() ? " (it was, but comm::initialize has not been called)" : "");
}

std::unique_ptr<Communicator> make_mpi() {
  require_mpi("mpi");
  return std::make_unique<MpiCommunicator>();
}

std::unique_ptr<Communicator> make_nccl() {
#ifdef FEDVLM_HAVE_NCCL
  require_mpi("nccl");  // MPI carries the NCCL id, the barrier and host buffers
  return std::make_unique<NcclCommunicator>(std::make_unique<MpiCommunicator>());
#else
  throw Error(
      "the nccl backend is not compiled into this build: it needs a CUDA LibTorch and NCCL at configure time "
      "(cmake -DFEDVLM_CUDA=ON, NCCL_HOME=...); use backend 'mpi' or 'local'");
#endif
}

std::unique_ptr<Communicator> make(Backend backend) {
  switch (backend) {
    case Backend::Auto:
      if (launched_under_mpi() || mpi_running()) return make_mpi();
      return make_local();
    case Backend::Local: return make_local();
    case Backend::Mpi: return make_mpi();
    case Backend::Nccl: return make_nccl();
  }
  throw Error(fmt::format("comm: unknown backend value {}", static_cast<int>(backend)));
}

}  // namespace

std::unique_ptr<Communicator> make_communicator(Backend backend) {
  auto communicator = make(backend);
  set_current_rank(communicator->rank());
  return communicator;
}

}  // namespace fedvlm::comm
