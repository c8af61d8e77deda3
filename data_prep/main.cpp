// fedvlm-prep: builds federated multimodal datasets (fashion, llava) and inspects them.
#include <CLI/CLI.hpp>

#include "commands/commands.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"

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
    return 2;
  } catch (const std::exception& error) {
    fedvlm::log::error("fatal: {}", error.what());
    return 1;
  }
  return 0;
}
