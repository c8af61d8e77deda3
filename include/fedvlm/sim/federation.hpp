// The round loop across ranks (DESIGN.md section 3): cohort -> placement -> local training ->
// one collective -> server step -> broadcast -> evaluation -> checkpoint -> metrics.
// Also runs the baselines: fl.algorithm = "centralized" (the union of client data as one
// client, server step x <- y) and "local" (each client alone): sim/baselines.hpp.
#pragma once

#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/config.hpp"

namespace fedvlm::sim {

struct RunOptions {
  bool resume = false;     // continue from the run directory's latest checkpoint
  bool overwrite = false;  // clear an existing run directory first
  bool rank_log_files = true;  // logs/rank-N.log (tests with threads as ranks turn it off)
};

struct RunOutcome {
  nlohmann::json summary;     // what summary.json holds (rank 0; empty elsewhere)
  bool interrupted = false;   // stopped by SIGTERM/SIGUSR1 after checkpointing
  std::filesystem::path run_dir;
};

RunOutcome run_federation(const Config& config, comm::Communicator& comm, const RunOptions& options);

}  // namespace fedvlm::sim
