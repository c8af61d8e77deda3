#include "fedvlm/eval/evaluator.hpp"

#include "fedvlm/core/log.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/batch.hpp"

namespace fedvlm::eval {
namespace {

// Restores the model's training flag however the evaluation ends.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvalModeGuard() { module_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

std::optional<Box> stored_box(const data::Samples& rows, std::int64_t row) {
  const auto box = rows.box_of(row);
  if (std::any_of(box.begin(), box.end(), [](float v) { return std::isnan(v); })) return std::nullopt;
  return Box{std::min(box[0], box[2]), std::min(box[1], box[3]), std::max(box[0], box[2]), std::max(box[1], box[3])};
}

void score_batch(model::VisionLanguageModel& model, const data::Samples& rows, std::span<const std::int64_t> batch_rows,
                 const data::Tokenizer& tokenizer, const model::SpecialTokens& special, const EvalConfig& config,
                 const torch::Device& device, TaskMetrics& metrics, std::vector<Prediction>* predictions) {
  const model::Batch training = model::collate_training(rows, batch_rows, special).to(device);
  const double tokens = (training.labels != model::kIgnoreIndex).sum().item<double>();
  if (tokens > 0) metrics.add_loss(model.loss(training).item<double>() * tokens, tokens);

  const model::Batch prompts = model::collate_prompts(rows, batch_rows, special).to(device);
  const auto generated = model.generate(prompts, config.max_new_tokens, special.eos);
  FEDVLM_CHECK(generated.size() == batch_rows.size(), "generate returned {} rows for a batch of {}", generated.size(),
               batch_rows.size());
  for (std::size_t i = 0; i < batch_rows.size(); ++i) {
    const std::int64_t row = batch_rows[i];
    const std::string prediction = tokenizer.decode(generated[i]);
    const std::string reference = tokenizer.decode(rows.answer_of(row));
    if (i < 2) log::debug("eval {} row {}: predicted '{}', reference '{}'", metrics.task(), row, prediction, reference);
    const double score = metrics.kind() == TaskKind::Grounding
                             ? metrics.add_prediction(prediction, reference, stored_box(rows, row))
                             : metrics.add_prediction(prediction, reference);
    if (predictions)
      predictions->push_back({row, metrics.task(), tokenizer.decode(rows.prompt_of(row)), prediction, reference, score});
  }
}

}  // namespace

MetricsAccumulator score_rows(model::VisionLanguageModel& model, const data::Samples& rows,
                              const data::Tokenizer& tokenizer, const std::vector<std::string>& task_names,
                              const EvalConfig& config, const torch::Device& device,
                              std::vector<Prediction>* predictions) {
  if (config.batch_size <= 0) throw InputError(fmt::format("eval.batch_size must be positive, got {}", config.batch_size));
  if (config.max_new_tokens <= 0)
    throw InputError(fmt::format("eval.max_new_tokens must be positive, got {}", config.max_new_tokens));
  MetricsAccumulator accumulator(task_names);
  const std::size_t first = predictions ? predictions->size() : 0;

  // Rows grouped by task, each group in split order.
  std::vector<std::vector<std::int64_t>> rows_of_task(task_names.size());
  for (std::int64_t row = 0; row < rows.size(); ++row) {
    const std::size_t task = rows.task[static_cast<std::size_t>(row)];
    if (task >= task_names.size())
      throw InputError(fmt::format("test row {} has task id {}, but the dataset names {} tasks", row, task,
                                   task_names.size()));
    rows_of_task[task].push_back(row);
  }

  torch::NoGradGuard no_grad;
  EvalModeGuard eval_mode(model);
  const model::SpecialTokens special{tokenizer.pad_id(), tokenizer.bos_id(), tokenizer.eos_id()};
  for (std::size_t task = 0; task < task_names.size(); ++task) {
    TaskMetrics& metrics = accumulator.at(task_names[task]);
    const std::vector<std::int64_t>& task_rows = rows_of_task[task];
    for (std::size_t begin = 0; begin < task_rows.size(); begin += static_cast<std::size_t>(config.batch_size)) {
      const std::size_t end = std::min(task_rows.size(), begin + static_cast<std::size_t>(config.batch_size));
      score_batch(model, rows, std::span(task_rows).subspan(begin, end - begin), tokenizer, special, config, device,
                  metrics, predictions);
    }
  }
  if (predictions)  // scored task by task; listed in row order
    std::stable_sort(predictions->begin() + static_cast<std::ptrdiff_t>(first), predictions->end(),
                     [](const Prediction& a, const Prediction& b) { return a.row < b.row; });
  return accumulator;
}

MetricsTable evaluate(model::VisionLanguageModel& model, const data::Samples& rows, const data::Tokenizer& tokenizer,
                      const std::vector<std::string>& task_names, const EvalConfig& config,
                      comm::Communicator& communicator, const torch::Device& device) {
  MetricsAccumulator accumulator = score_rows(model, rows, tokenizer, task_names, config, device);
  accumulator.reduce(communicator, 0);
  return communicator.is_root() ? accumulator.finish() : MetricsTable{};
}

}  // namespace fedvlm::eval
