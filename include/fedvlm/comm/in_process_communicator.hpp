// InProcessCommunicator: N threads of one process act as N ranks, so every distributed code
// path can be tested inside one test binary. The ranks share an InProcessWorld: a mutex, a
// condition variable and a generation counter (a reusable barrier). Each collective is two
// barriers: at the first, the last rank to arrive checks that all ranks called the same
// collective with the same shape and computes any reduction; every rank then copies its result
// out, and the second barrier keeps all buffers alive until everyone has read them.
//
// A world can be poisoned (a rank failed, aborted, or a test timed out): every rank waiting in a
// collective wakes up and throws WorldPoisoned, and so does every later collective.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::comm {

// Thrown in a rank that was waiting on (or entering) a collective of a poisoned world.
class WorldPoisoned : public Error {
 public:
  using Error::Error;
};

// Thrown by InProcessCommunicator::abort in the aborting thread (instead of ending the process).
class InProcessAbort : public Error {
 public:
  InProcessAbort(const std::string& message, int exit_code) : Error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

class InProcessWorld {
 public:
  explicit InProcessWorld(int size);

  int size() const { return size_; }
  void poison(const std::string& reason);
  bool poisoned() const;
  // One line per rank: which collective it waits in, for deadlock reports.
  std::string describe_ranks() const;

  // One rank's side of a collective, as InProcessCommunicator records it.
  enum class Kind { Allreduce, Reduce, Broadcast, Allgather, Alltoallv, Barrier };
  struct Call {
    Kind kind = Kind::Barrier;
    Buffer buffer;   // allreduce/reduce/broadcast: in and out; allgather: send
    Buffer receive;  // allgather and alltoallv only
    ReduceOp op = ReduceOp::Sum;
    int root = 0;
    std::string signature;  // e.g. "allreduce(float32 x 4, sum)": equal on all ranks or a mismatch
    std::vector<std::size_t> send_counts, receive_counts;  // alltoallv only
  };

 private:
  friend class InProcessCommunicator;

  struct RankState {
    Call call;
    std::uint64_t sequence = 0;  // how many collectives this rank has entered
    const char* phase = nullptr;  // nullptr when not waiting
  };

  // Blocks until all ranks arrive; the last one runs `last_arrival` first (under the lock).
  // Throws WorldPoisoned if the world is or becomes poisoned before this barrier completes.
  void arrive_and_wait(int rank, const char* phase, const std::function<void()>& last_arrival);
  void poison_locked(const std::string& reason);
  [[noreturn]] void throw_poisoned_locked(int rank) const;

  const int size_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<RankState> ranks_;
  int arrived_ = 0;
  std::uint64_t generation_ = 0;
  std::optional<std::string> poison_;
  std::vector<std::byte> reduction_;  // result of the current allreduce/reduce
};

class InProcessCommunicator final : public Communicator {
 public:
  InProcessCommunicator(std::shared_ptr<InProcessWorld> world, int rank);

  int rank() const override { return rank_; }
  int size() const override { return world_->size(); }
  std::string backend() const override { return "inprocess"; }

  void allreduce(Buffer buffer, ReduceOp op) override;
  void reduce(Buffer buffer, ReduceOp op, int root) override;
  void broadcast(Buffer buffer, int root) override;
  void allgather(Buffer send, Buffer receive) override;
  void alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                 std::span<const std::size_t> receive_counts) override;
  void barrier() override;
  // Poisons the world (the other ranks throw WorldPoisoned) and throws InProcessAbort here.
  [[noreturn]] void abort(int exit_code) override;

 private:
  void run(InProcessWorld::Call call);

  std::shared_ptr<InProcessWorld> world_;
  int rank_;
};

}  // namespace fedvlm::comm
