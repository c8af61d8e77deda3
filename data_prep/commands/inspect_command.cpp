#include <iostream>
#include <memory>

#include "commands/commands.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/data/inspect.hpp"

namespace fedvlm::prep {

void add_inspect_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto listed = std::make_shared<std::int64_t>(10);
  auto* command = app.add_subcommand(
      "inspect", "Validate a dataset directory (every violation of docs/data-format.md; exit 2 if any), "
                 "then print its statistics: clients, sizes, tasks, label heterogeneity.");
  command->add_option("dir", *dir, "Dataset directory")->required();
  command->add_option("--clients-listed", *listed, "Label histograms printed for this many clients")->capture_default_str();
  command->callback([dir, listed] {
    const auto violations = data::validate_dataset(*dir);
    for (const auto& violation : violations) std::cout << "violation: " << violation.describe() << '\n';
    if (!violations.empty()) {
      std::cout << violations.size() << " violation(s): " << *dir << " is not a valid fedvlm dataset\n";
      throw CLI::RuntimeError(2);  // bad input: exit 2, without a second message
    }
    std::cout << *dir << ": valid\n";
    data::DatasetReader reader(*dir);
    std::cout << data::format_statistics(reader.info(), data::dataset_statistics(reader), *listed);
  });
}

}  // namespace fedvlm::prep
