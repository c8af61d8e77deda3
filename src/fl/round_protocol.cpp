#include "fedvlm/fl/round_protocol.hpp"

#include <chrono>

#include <cmath>

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fault_injection.hpp"
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

void check_bad_fraction(const Accumulator& reduced, double max_bad_fraction, std::int64_t round) {
  if (!reduced.has_segment(kBadClientsSegment)) return;
  const auto bad = static_cast<std::int64_t>(std::llround(reduced.scalar(kBadClientsSegment)));
  const std::int64_t cohort = reduced.clients() + bad;
  if (bad > 0 && static_cast<double>(bad) > max_bad_fraction * static_cast<double>(cohort)) {
    throw InputError(fmt::format(
        "round {}: {} of the cohort's {} client updates were left out (not finite, or their norm above "
        "fl.max_update_norm; the warnings above name them), more than fl.max_bad_fraction = {} of the cohort: "
        "stopping rather than aggregating what is left. Lower local.lr, raise fl.max_update_norm, or raise "
        "fl.max_bad_fraction to go on without them",
        round + 1, bad, cohort, max_bad_fraction));
  }
}

RoundProtocolReport complete_round(Algorithm& algorithm, Accumulator& accumulator, comm::Communicator& comm,
                                   torch::Tensor& x, std::int64_t round, const RoundRules& rules) {
  RoundProtocolReport report;
  auto mark = Clock::now();
  fault_point("reduce");
  reduce_to_root(accumulator, comm);
  report.reduce_seconds = seconds_since(mark);

  if (comm.is_root()) {
    check_bad_fraction(accumulator, rules.max_bad_fraction, round);
    // A cohort that folded no client (all left out) keeps x, as without DP, rather than step on noise.
    if (accumulator.clients() > 0) {
      aggregate_robustly(accumulator, rules.aggregator);
      privatize(accumulator, rules.dp, round);
    }
    if (accumulator.total_weight() > 0.0) {
      algorithm.server_update(x, accumulator, round);
      report.server_step_taken = true;
    } else {
      log::warn("round {}: the {} client(s) aggregated hold no training samples (total weight 0){}; the global "
                "model and the server state stay as they were",
                round + 1, accumulator.clients(),
                accumulator.has_segment(kBadClientsSegment) && accumulator.scalar(kBadClientsSegment) > 0
                    ? ", the others' updates were left out"
                    : "");
    }
  }
  report.server_seconds = seconds_since(mark);

  torch::Tensor global = comm.is_root() ? algorithm.pack_global(x)
                                        : torch::empty({algorithm.broadcast_size()}, x.options());
  fault_point("broadcast");
  comm::broadcast(comm, global, 0);
  algorithm.unpack_global(global, x);
  if (auto* states = algorithm.client_states()) states->end_round(comm);
  report.broadcast_seconds = seconds_since(mark);
  return report;
}

}  // namespace fedvlm::fl
