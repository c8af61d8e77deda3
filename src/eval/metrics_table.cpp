#include "fedvlm/eval/metrics_table.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace fedvlm::eval {

std::string format_metrics_table(const MetricsTable& table) {
  // Known metrics in a fixed, readable order; any other name follows alphabetically.
  static constexpr std::array<std::string_view, 7> kOrder = {"accuracy", "bleu4", "rouge_l", "cider",
                                                             "iou",      "acc_iou50", "loss"};
  std::vector<std::string> columns;
  for (std::string_view name : kOrder) {
    const bool used = std::any_of(table.begin(), table.end(), [&](const auto& row) { return row.second.contains(std::string(name)); });
    if (used) columns.emplace_back(name);
  }
  std::set<std::string> others;  // sorted
  for (const auto& [task, metrics] : table)
    for (const auto& [name, value] : metrics)
      if (std::find(kOrder.begin(), kOrder.end(), name) == kOrder.end()) others.insert(name);
  columns.insert(columns.end(), others.begin(), others.end());

  std::size_t task_width = 4;  // "task"
  for (const auto& [task, metrics] : table) task_width = std::max(task_width, task.size());
  std::string out = fmt::format("{:<{}}", "task", task_width);
  for (const std::string& column : columns) out += fmt::format("  {:>{}}", column, std::max<std::size_t>(column.size(), 9));
  out += '\n';
  for (const auto& [task, metrics] : table) {
    out += fmt::format("{:<{}}", task, task_width);
    for (const std::string& column : columns) {
      const std::size_t width = std::max<std::size_t>(column.size(), 9);
      const auto found = metrics.find(column);
      out += found == metrics.end() ? fmt::format("  {:>{}}", "-", width) : fmt::format("  {:>{}.4f}", found->second, width);
    }
    out += '\n';
  }
  return out;
}

}  // namespace fedvlm::eval
