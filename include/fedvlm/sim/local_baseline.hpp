// The local-only baseline (fl.algorithm = "local"): every client trains alone from the same
// starting point for fl.rounds rounds of local training (the same schedule a federated client
// follows), is evaluated on the test split, and the per-task metrics are averaged over clients.
// Clients are spread over ranks; each rank evaluates its clients on the whole test split (bound
// it with data.max_test_samples: the cost is clients x test samples).
#pragma once

#include <filesystem>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/config.hpp"
#include "fedvlm/sim/federation.hpp"
#include "fedvlm/sim/setup.hpp"

namespace fedvlm::sim {

RunOutcome run_local_baseline(const Config& config, Workbench& bench, comm::Communicator& comm,
                              const std::filesystem::path& run_dir);

}  // namespace fedvlm::sim
