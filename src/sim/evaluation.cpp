#include "fedvlm/sim/evaluation.hpp"

#include "fedvlm/eval/evaluator.hpp"
#include "fedvlm/eval/split_range.hpp"

namespace fedvlm::sim {

std::int64_t test_samples_evaluated(const Config& config, Workbench& workbench) {
  const std::int64_t total = workbench.dataset.split_size("test");
  return config.data.max_test_samples > 0 ? std::min(total, config.data.max_test_samples) : total;
}

eval::MetricsTable evaluate_on_test(const Config& config, Workbench& workbench, comm::Communicator& comm,
                                    bool local_only) {
  const std::int64_t total = test_samples_evaluated(config, workbench);
  const auto& tasks = workbench.dataset.info().tasks;
  auto& model = *workbench.model;
  if (local_only) {
    const data::Samples rows = workbench.dataset.read_split("test", 0, total);
    return eval::score_rows(model, rows, workbench.tokenizer, tasks, config.eval, workbench.device).finish();
  }
  const auto [begin, end] = eval::split_range(total, comm.rank(), comm.size());
  const data::Samples rows = workbench.dataset.read_split("test", begin, end);
  return eval::evaluate(model, rows, workbench.tokenizer, tasks, config.eval, comm, workbench.device);
}

}  // namespace fedvlm::sim
