// The two baselines every federated result is read against (DESIGN.md section 6), each its own
// runner beside the federated one in federation.cpp.
//
// Centralized (fl.algorithm = "centralized"): the union of the clients' data trained as one client
// on rank 0, as FedAvg with η_g = 1 through the same round loop. Each round it processes as many
// samples as that round's federated cohort would: the cohort of the same seed and round, each
// client's samples under local.steps or local.epochs, summed, in full batches of the union.
//
// Local-only (fl.algorithm = "local"): every client trains alone from the same starting point
// for fl.rounds rounds of local training (the schedule a federated client follows), is evaluated
// on the test split, and the per-task metrics are averaged over clients. Clients are spread over
// ranks; each rank evaluates its clients on the whole test split (bound it with
// data.max_test_samples: the cost is clients x test samples).
#pragma once

#include "fedvlm/sim/round_loop.hpp"

namespace fedvlm::sim {

RunOutcome run_centralized(RunContext& run);
RunOutcome run_local_only(RunContext& run);

}  // namespace fedvlm::sim
