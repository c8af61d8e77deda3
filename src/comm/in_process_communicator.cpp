#include "fedvlm/comm/in_process_communicator.hpp"

#include <algorithm>
#include <cstring>

#include "buffer_checks.hpp"

namespace fedvlm::comm {
namespace {

template <class T>
void combine_into(void* accumulator, const void* contribution, std::size_t count, ReduceOp op) {
  auto* acc = static_cast<T*>(accumulator);
  const auto* x = static_cast<const T*>(contribution);
  if (op == ReduceOp::Sum) {
    for (std::size_t i = 0; i < count; ++i) acc[i] = static_cast<T>(acc[i] + x[i]);  // uint8 wraps, as in MPI
  } else {
    for (std::size_t i = 0; i < count; ++i) acc[i] = std::max(acc[i], x[i]);
  }
}

void combine(void* accumulator, const Buffer& contribution, ReduceOp op) {
  const std::size_t n = contribution.count;
  switch (contribution.dtype) {
    case DType::Float32: return combine_into<float>(accumulator, contribution.data, n, op);
    case DType::Float64: return combine_into<double>(accumulator, contribution.data, n, op);
    case DType::Int32: return combine_into<std::int32_t>(accumulator, contribution.data, n, op);
    case DType::Int64: return combine_into<std::int64_t>(accumulator, contribution.data, n, op);
    case DType::UInt8: return combine_into<std::uint8_t>(accumulator, contribution.data, n, op);
  }
}

const char* op_name(ReduceOp op) { return op == ReduceOp::Sum ? "sum" : "max"; }

std::string shape(const Buffer& buffer) { return fmt::format("{} x {}", dtype_name(buffer.dtype), buffer.count); }

}  // namespace

InProcessWorld::InProcessWorld(int size) : size_(size) {
  FEDVLM_CHECK(size >= 1, "an in-process world needs at least one rank, got {}", size);
  ranks_.resize(static_cast<std::size_t>(size));
}

void InProcessWorld::poison(const std::string& reason) {
  std::lock_guard lock(mutex_);
  poison_locked(reason);
}

bool InProcessWorld::poisoned() const {
  std::lock_guard lock(mutex_);
  return poison_.has_value();
}

std::string InProcessWorld::describe_ranks() const {
  std::lock_guard lock(mutex_);
  std::string text;
  for (int rank = 0; rank < size_; ++rank) {
    const RankState& state = ranks_[static_cast<std::size_t>(rank)];
    if (!text.empty()) text += "; ";
    if (state.phase != nullptr) {
      text += fmt::format("rank {} waits in {} (collective #{}, {})", rank, state.call.signature, state.sequence,
                          state.phase);
    } else {
      text += fmt::format("rank {} is not in a collective (entered {})", rank, state.sequence);
    }
  }
  return text;
}

void InProcessWorld::poison_locked(const std::string& reason) {
  if (!poison_) poison_ = reason;  // the first cause is the one worth reporting
  changed_.notify_all();
}

void InProcessWorld::throw_poisoned_locked(int rank) const {
  throw WorldPoisoned(fmt::format("in-process rank {} stopped: {}", rank, *poison_));
}

void InProcessWorld::arrive_and_wait(int rank, const char* phase, const std::function<void()>& last_arrival) {
  std::unique_lock lock(mutex_);
  if (poison_) throw_poisoned_locked(rank);
  ranks_[static_cast<std::size_t>(rank)].phase = phase;
  if (++arrived_ == size_) {
    arrived_ = 0;
    if (last_arrival) {
      try {
        last_arrival();
      } catch (const std::exception& error) {
        poison_locked(error.what());
        throw;
      }
    }
    for (auto& state : ranks_) state.phase = nullptr;
    ++generation_;
    changed_.notify_all();
    return;
  }
  const std::uint64_t generation = generation_;
  changed_.wait(lock, [&] { return generation_ != generation || poison_.has_value(); });
  if (generation_ == generation) throw_poisoned_locked(rank);
}

using Kind = InProcessWorld::Kind;

InProcessCommunicator::InProcessCommunicator(std::shared_ptr<InProcessWorld> world, int rank)
    : world_(std::move(world)), rank_(rank) {
  FEDVLM_CHECK(world_ != nullptr, "an in-process communicator needs a world");
  FEDVLM_CHECK(0 <= rank && rank < world_->size(), "rank {} is outside an in-process world of size {}", rank,
               world_->size());
}

void InProcessCommunicator::allreduce(Buffer buffer, ReduceOp op) {
  detail::check_host(*this, buffer, "allreduce");
  run({Kind::Allreduce, buffer, Buffer{}, op, 0, fmt::format("allreduce({}, {})", shape(buffer), op_name(op))});
}

void InProcessCommunicator::reduce(Buffer buffer, ReduceOp op, int root) {
  detail::check_host(*this, buffer, "reduce");
  detail::check_root(*this, root, "reduce");
  run({Kind::Reduce, buffer, Buffer{}, op, root,
       fmt::format("reduce({}, {}, root {})", shape(buffer), op_name(op), root)});
}

void InProcessCommunicator::broadcast(Buffer buffer, int root) {
  detail::check_host(*this, buffer, "broadcast");
  detail::check_root(*this, root, "broadcast");
  run({Kind::Broadcast, buffer, Buffer{}, ReduceOp::Sum, root,
       fmt::format("broadcast({}, root {})", shape(buffer), root)});
}

void InProcessCommunicator::allgather(Buffer send, Buffer receive) {
  detail::check_host(*this, send, "allgather");
  detail::check_host(*this, receive, "allgather");
  detail::check_allgather_buffers(*this, send, receive);
  run({Kind::Allgather, send, receive, ReduceOp::Sum, 0, fmt::format("allgather({})", shape(send))});
}

void InProcessCommunicator::alltoallv(Buffer send, std::span<const std::size_t> send_counts, Buffer receive,
                                      std::span<const std::size_t> receive_counts) {
  detail::check_host(*this, send, "alltoallv");
  detail::check_host(*this, receive, "alltoallv");
  detail::check_alltoallv_buffers(*this, send, send_counts, receive, receive_counts);
  InProcessWorld::Call call{Kind::Alltoallv, send, receive, ReduceOp::Sum, 0,
                            fmt::format("alltoallv({})", dtype_name(send.dtype))};
  call.send_counts.assign(send_counts.begin(), send_counts.end());
  call.receive_counts.assign(receive_counts.begin(), receive_counts.end());
  run(std::move(call));
}

void InProcessCommunicator::barrier() { run({Kind::Barrier, Buffer{}, Buffer{}, ReduceOp::Sum, 0, "barrier"}); }

void InProcessCommunicator::abort(int exit_code) {
  const std::string reason = fmt::format("rank {} aborted with exit code {}", rank_, exit_code);
  world_->poison(reason);
  throw InProcessAbort(reason, exit_code);
}

void InProcessCommunicator::run(InProcessWorld::Call call) {
  InProcessWorld& world = *world_;
  {
    std::lock_guard lock(world.mutex_);
    auto& state = world.ranks_[static_cast<std::size_t>(rank_)];
    state.call = std::move(call);
    ++state.sequence;
  }
  // Only this thread writes its own RankState::call, and only here, while no other rank can be
  // reading it (they all passed the previous collective's second barrier).
  const InProcessWorld::Call& mine = world.ranks_[static_cast<std::size_t>(rank_)].call;

  world.arrive_and_wait(rank_, "entering", [&] {
    for (int rank = 1; rank < world.size_; ++rank) {
      const auto& other = world.ranks_[static_cast<std::size_t>(rank)];
      FEDVLM_CHECK(other.call.signature == world.ranks_[0].call.signature,
                   "mismatched collectives at #{}: rank 0 called {} but rank {} called {}", other.sequence,
                   world.ranks_[0].call.signature, rank, other.call.signature);
    }
    if (mine.kind == Kind::Alltoallv) {
      for (int from = 0; from < world.size_; ++from)
        for (int to = 0; to < world.size_; ++to) {
          const auto sends = world.ranks_[static_cast<std::size_t>(from)].call.send_counts[static_cast<std::size_t>(to)];
          const auto expects =
              world.ranks_[static_cast<std::size_t>(to)].call.receive_counts[static_cast<std::size_t>(from)];
          FEDVLM_CHECK(sends == expects, "alltoallv at #{}: rank {} sends {} elements to rank {}, which expects {}",
                       world.ranks_[0].sequence, from, sends, to, expects);
        }
    }
    if (mine.kind == Kind::Allreduce || mine.kind == Kind::Reduce) {
      // Ranks are combined in rank order, so every rank gets bit-identical floating-point sums.
      const std::size_t bytes = mine.buffer.bytes();
      world.reduction_.resize(bytes);
      if (bytes > 0) std::memcpy(world.reduction_.data(), world.ranks_[0].call.buffer.data, bytes);
      for (int rank = 1; rank < world.size_; ++rank) {
        combine(world.reduction_.data(), world.ranks_[static_cast<std::size_t>(rank)].call.buffer, mine.op);
      }
    }
  });

  if (mine.kind == Kind::Alltoallv) {
    // From each rank, the block it addressed to this one (after its blocks for lower ranks).
    const std::size_t element = dtype_size(mine.buffer.dtype);
    std::size_t received = 0;
    for (int from = 0; from < world.size_; ++from) {
      const auto& call = world.ranks_[static_cast<std::size_t>(from)].call;
      std::size_t offset = 0;
      for (int to = 0; to < rank_; ++to) offset += call.send_counts[static_cast<std::size_t>(to)];
      const std::size_t count = call.send_counts[static_cast<std::size_t>(rank_)];
      if (count > 0)
        std::memcpy(static_cast<char*>(mine.receive.data) + received * element,
                    static_cast<const char*>(call.buffer.data) + offset * element, count * element);
      received += count;
    }
  }
  const std::size_t bytes = mine.kind == Kind::Alltoallv ? 0 : mine.buffer.bytes();
  if (bytes > 0) {
    switch (mine.kind) {
      case Kind::Allreduce: std::memcpy(mine.buffer.data, world.reduction_.data(), bytes); break;
      case Kind::Reduce:
        if (rank_ == mine.root) std::memcpy(mine.buffer.data, world.reduction_.data(), bytes);
        break;
      case Kind::Broadcast:
        if (rank_ != mine.root) {
          std::memcpy(mine.buffer.data, world.ranks_[static_cast<std::size_t>(mine.root)].call.buffer.data, bytes);
        }
        break;
      case Kind::Allgather:
        for (int rank = 0; rank < world.size_; ++rank) {
          std::memcpy(static_cast<char*>(mine.receive.data) + static_cast<std::size_t>(rank) * bytes,
                      world.ranks_[static_cast<std::size_t>(rank)].call.buffer.data, bytes);
        }
        break;
      case Kind::Alltoallv:
      case Kind::Barrier: break;
    }
  }
  // Nobody returns (and reuses or frees its buffers) before every rank has copied its result.
  world.arrive_and_wait(rank_, "leaving", {});
}

}  // namespace fedvlm::comm
