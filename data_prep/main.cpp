// fedvlm-prep: builds federated multimodal datasets (fashion, llava) and inspects them.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands/commands.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"

namespace {

// Ends the process after a failure without running atexit handlers: HDF5's would close what a
// failed H5Fcreate left half-open (a full disk) and crash doing so. The log is flushed at warn.
[[noreturn]] void exit_after_failure(int code) {
  std::cout.flush();
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  fedvlm::log::setup({});
  CLI::App app{"fedvlm-prep: build federated multimodal datasets for fedvlm and inspect them"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->each([](const std::string& level) { fedvlm::log::setup({.level = level}); });
  fedvlm::prep::add_fashion_command(app);
  fedvlm::prep::add_llava_command(app);
  fedvlm::prep::add_inspect_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  } catch (const fedvlm::InputError& error) {  // exit codes as fedvlm's (docs/cluster.md)
    fedvlm::log::error("{}", error.what());
    exit_after_failure(2);
  } catch (const std::exception& error) {
    fedvlm::log::error("fatal: {}", error.what());
    exit_after_failure(1);
  }
  return 0;
}
