// The subcommands behind the CLI, one function each; options come parsed.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/config.hpp"

namespace fedvlm::app {

struct CommonOptions {
  std::vector<std::filesystem::path> configs;
  std::vector<std::string> overrides;
  bool log_all_ranks = false;
};

// Loads the config, sets up logging and the communicator.
struct Session {
  Config config;
  std::unique_ptr<comm::Communicator> comm;
};
Session open_session(const CommonOptions& options);

// `resume`: a run directory to continue (empty: a fresh run).
int command_run(CommonOptions options, const std::filesystem::path& resume, bool overwrite, bool dump_only);
int command_pretrain(const CommonOptions& options, const std::string& out_dir);
int command_eval(const CommonOptions& options, const std::filesystem::path& checkpoint,
                 const std::filesystem::path& predictions);
int command_inspect(const CommonOptions& options);
int command_bench(const CommonOptions& options, const std::string& what, int repeats, const std::string& json_path);
int command_config(const CommonOptions& options, bool reference);

}  // namespace fedvlm::app
