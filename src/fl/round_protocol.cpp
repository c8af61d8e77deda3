#include "fedvlm/fl/round_protocol.hpp"

#include <chrono>

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/fl/client_state.hpp"

namespace fedvlm::fl {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point& mark) {
  const auto now = Clock::now();
  const double seconds = std::chrono::duration<double>(now - mark).count();
  mark = now;
  return seconds;
}

}  // namespace

RoundProtocolReport complete_round(Algorithm& algorithm, Accumulator& accumulator, comm::Communicator& comm,
                                   torch::Tensor& x, std::int64_t round) {
  RoundProtocolReport report;
  auto mark = Clock::now();
  reduce_to_root(accumulator, comm);
  report.reduce_seconds = seconds_since(mark);

  if (comm.is_root()) {
    if (accumulator.total_weight() > 0.0) {
      algorithm.server_update(x, accumulator, round);
      report.server_step_taken = true;
    } else {
      log::warn("round {}: the {} sampled client(s) hold no training samples (total weight 0); the global model "
                "and the server state stay as they were",
                round + 1, accumulator.clients());
    }
  }
  report.server_seconds = seconds_since(mark);

  torch::Tensor global = comm.is_root() ? algorithm.pack_global(x)
                                        : torch::empty({algorithm.broadcast_size()}, x.options());
  comm::broadcast(comm, global, 0);
  algorithm.unpack_global(global, x);
  if (auto* states = algorithm.client_states()) states->end_round(comm);
  report.broadcast_seconds = seconds_since(mark);
  return report;
}

}  // namespace fedvlm::fl
