// The round protocol after local training (DESIGN.md section 3, steps 4-5), in one place for the
// round loop and the tests: the one reduce of the accumulator to rank 0, the server step there,
// the broadcast of the new global vector (and whatever global state clients need), and the
// return of per-client states trained away from home (ClientStateStore::end_round). Every rank calls it with its own
// accumulator; afterwards every rank holds the same x.
#pragma once

#include <cstdint>

#include <torch/types.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/fl/accumulator.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/fl/differential_privacy.hpp"
#include "fedvlm/fl/robustness.hpp"

namespace fedvlm::fl {

struct RoundProtocolReport {
  bool server_step_taken = false;  // rank 0; false: the cohort's total weight was 0, x is unchanged
  double reduce_seconds = 0.0;
  double server_seconds = 0.0;     // rank 0
  double broadcast_seconds = 0.0;  // the broadcast and the client-state moves
};

// A cohort whose total weight is 0 (every sampled client holds no samples under fl.weighting =
// samples) leaves x and the server state as they are, with a warning naming the round: such a
// round carries no information, and a large sparse federation meets one now and then.
// Where the accumulator counts clients left out (kBadClientsSegment), rank 0 throws an
// InputError when they are more than `max_bad_fraction` of the cohort (fl.max_bad_fraction).
// Under a robust aggregator (rules.aggregator.robust()), rank 0 replaces the mean update with
// the aggregate of the clients' rows; under DP-FedAvg (rules.dp.enabled()) it privatizes the
// reduced sums; both before server_update.
struct RoundRules {
  double max_bad_fraction = 1.0;  // fl.max_bad_fraction
  DpSettings dp;                  // fl.dp_*
  AggregatorSettings aggregator;  // fl.aggregator
};
RoundProtocolReport complete_round(Algorithm& algorithm, Accumulator& accumulator, comm::Communicator& comm,
                                   torch::Tensor& x, std::int64_t round, const RoundRules& rules = {});

// The check above: throws when the reduced accumulator's left-out clients are more than
// `max_bad_fraction` of the cohort (folded + left out). `round` is 0-based.
void check_bad_fraction(const Accumulator& reduced, double max_bad_fraction, std::int64_t round);

}  // namespace fedvlm::fl
