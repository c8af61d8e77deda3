#include "fedvlm/sim/evaluation.hpp"

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/eval/evaluator.hpp"
#include "fedvlm/eval/gather_strings.hpp"
#include "fedvlm/eval/split_range.hpp"

namespace fedvlm::sim {
namespace {

// One JSON line per answer; `offset` turns this rank's row index into the test-split index.
std::vector<std::string> prediction_lines(const std::vector<eval::Prediction>& predictions, std::int64_t offset) {
  std::vector<std::string> lines;
  lines.reserve(predictions.size());
  for (const auto& p : predictions) {
    nlohmann::json line = {{"row", offset + p.row},       {"task", p.task},
                           {"prompt", p.prompt},            {"prediction", p.prediction},
                           {"reference", p.reference},
                           {"score", std::isnan(p.score) ? nlohmann::json(nullptr) : nlohmann::json(p.score)}};
    lines.push_back(line.dump() + "\n");
  }
  return lines;
}

}  // namespace

std::int64_t test_samples_evaluated(const Config& config, Workbench& workbench) {
  const std::int64_t total = workbench.dataset.split_size("test");
  return config.data.max_test_samples > 0 ? std::min(total, config.data.max_test_samples) : total;
}

eval::MetricsTable evaluate_on_test(const Config& config, Workbench& workbench, comm::Communicator& comm,
                                    bool local_only, const std::filesystem::path& predictions_file) {
  const std::int64_t total = test_samples_evaluated(config, workbench);
  const auto& tasks = workbench.dataset.info().tasks;
  auto& model = *workbench.model;
  if (local_only) {
    const data::Samples rows = workbench.dataset.read_split("test", 0, total);
    return eval::score_rows(model, rows, workbench.tokenizer, tasks, config.eval, workbench.device).finish();
  }
  const auto [begin, end] = eval::split_range(total, comm.rank(), comm.size());
  const data::Samples rows = workbench.dataset.read_split("test", begin, end);
  if (predictions_file.empty())
    return eval::evaluate(model, rows, workbench.tokenizer, tasks, config.eval, comm, workbench.device);

  std::vector<eval::Prediction> predictions;
  eval::MetricsAccumulator accumulator =
      eval::score_rows(model, rows, workbench.tokenizer, tasks, config.eval, workbench.device, &predictions);
  accumulator.reduce(comm, 0);
  // Contiguous shares in rank order, each in row order: the gathered lines are in split order.
  const std::vector<std::string> lines = eval::gather_strings(comm, prediction_lines(predictions, begin), 0);
  if (!comm.is_root()) return {};
  write_atomically(predictions_file, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary);
    for (const auto& line : lines) out << line;
    out.close();
    if (!out) throw Error(fmt::format("could not write {}", temporary.string()));
  });
  return accumulator.finish();
}

}  // namespace fedvlm::sim
