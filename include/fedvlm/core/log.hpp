// Logging: spdlog with the rank on every line. Rank 0 logs at info; other ranks at warning
// unless asked (`--log-all-ranks`); optional per-rank files under <run dir>/logs/.
#pragma once

#include <filesystem>
#include <string>

#include <spdlog/spdlog.h>

namespace fedvlm::log {

struct Options {
  int rank = 0;
  int world_size = 1;
  bool all_ranks = false;                  // non-zero ranks log at info too
  std::string level = "info";              // trace, debug, info, warn, error
  std::filesystem::path file;              // empty: console only; else also this file (e.g. logs/rank-3.log)
};

// Installs the default logger. Safe to call again (e.g. once the run directory is known).
void setup(const Options& options);

// Adds logs/rank-N.log under `run_dir` to the current logger, replacing the file an earlier call added.
void add_rank_file(const std::filesystem::path& run_dir, int rank);

using spdlog::debug;
using spdlog::error;
using spdlog::info;
using spdlog::trace;
using spdlog::warn;

}  // namespace fedvlm::log
