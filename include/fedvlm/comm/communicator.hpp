// Communicator: the one narrow collective interface every distributed code path uses.
// Backends (chosen in one factory, make_communicator): Local (size 1), Mpi, InProcess (threads
// act as ranks, for tests), Nccl (GPU tensors; compiled only in CUDA builds).
//
// Collectives work on flat buffers. The torch adapters in comm/tensor_ops.hpp take tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace fedvlm::comm {

enum class DType { Float32, Float64, Int32, Int64, UInt8 };
enum class ReduceOp { Sum, Max };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

// A view of `count` elements of `dtype` at `data` (host memory unless on_device).
struct Buffer {
  void* data = nullptr;
  std::size_t count = 0;
  DType dtype = DType::Float32;
  bool on_device = false;
  std::size_t bytes() const { return count * dtype_size(dtype); }
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;

  // Every rank passes a buffer of the same count and dtype; all get the elementwise reduction.
  virtual void allreduce(Buffer buffer, ReduceOp op) = 0;
  // Reduction into `root`'s buffer; other ranks' buffers are left unspecified.
  virtual void reduce(Buffer buffer, ReduceOp op, int root) = 0;
  // `root`'s buffer is copied into every rank's buffer.
  virtual void broadcast(Buffer buffer, int root) = 0;
  // `send` (count n on every rank) gathered into `receive` (count n * size), rank order.
  virtual void allgather(Buffer send, Buffer receive) = 0;
  // Personalized exchange (MPI_Alltoallv with packed blocks): this rank sends send_counts[p]
  // elements to rank p, the blocks lying one after the other in `send` in rank order, and
  // receives receive_counts[p] elements from rank p into `receive`, in rank order. Both spans
  // have size() entries; what p sends to q must be what q expects from p. Moves of per-client
  // state for clients trained away from home use it (host buffers).
  virtual void alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                         std::span<const std::size_t> receive_counts) = 0;
  virtual void barrier() = 0;
  // Ends the whole job (all ranks) after a fatal error on this one. Never returns.
  [[noreturn]] virtual void abort(int exit_code) = 0;

  // Whether collectives take device (CUDA) buffers directly. When false, the tensor adapters
  // (comm/tensor_ops.hpp) stage device tensors through host memory.
  virtual bool accepts_device_buffers() const { return false; }

  bool is_root() const { return rank() == 0; }
};

// Process-wide MPI lifetime. initialize() is a no-op when not launched by an MPI starter;
// finalize() is called explicitly at the end of main, never from a destructor (an exception
// path must reach MPI_Abort instead, so one failing rank never hangs the others).
void initialize(int* argc, char*** argv);
void finalize();
bool launched_under_mpi();  // OMPI_COMM_WORLD_SIZE (mpirun), PMIX_RANK (srun --mpi=pmix), PMI_SIZE/PMI_RANK
// Ends every rank of the job with `exit_code` (MPI_Abort on MPI_COMM_WORLD) once this process
// has joined a job of several ranks through a communicator, whether or not that communicator
// still exists (an exception may have destroyed it on the way to main). Returns when there is
// nothing to abort: no MPI, one rank, or no communicator made yet (then every rank fails the
// same way and exits on its own, with no abort banner).
void abort_world(int exit_code);

// Which GPU a rank uses, decided here for both the model (sim::choose_device) and the nccl
// backend (cudaSetDevice): cuda_device_for(node_local_rank(), GPUs this rank sees).
// node_local_rank(): once an MPI communicator exists (make_communicator with Mpi, Auto under a
// starter, or Nccl), this rank's rank among the ranks of its node, from
// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED); before that, or without MPI, OMPI_COMM_WORLD_LOCAL_RANK
// (Open MPI's mpirun), else SLURM_LOCALID (srun), else 0.
int node_local_rank();
// local_rank modulo device_count: ranks beyond the GPU count share the GPUs round-robin. Throws
// fedvlm::Error when device_count < 1 or local_rank < 0.
int cuda_device_for(int local_rank, int device_count);

enum class Backend { Auto, Local, Mpi, Nccl };

Backend parse_backend(const std::string& name);  // "auto", "local", "mpi", "nccl"

// Auto: Mpi when launched under an MPI starter (initialize() must have run), else Local.
// Local refuses to run as one of several MPI ranks; Mpi refuses to run without a starter.
// Nccl needs a CUDA build with NCCL; asking for it otherwise throws a clear error.
// Also records the rank for errors and logs (fedvlm::set_current_rank).
std::unique_ptr<Communicator> make_communicator(Backend backend = Backend::Auto);

}  // namespace fedvlm::comm
