// The evaluation loop: generation over this rank's part of the test split, scored per task, the
// results combined across ranks and finished on rank 0 (DESIGN.md section 3, step 6).
//
// Per task, in batches of eval.batch_size rows of that task (so every batch's loss belongs to
// one task): the answer-token loss (model.loss on the training layout: mean cross-entropy over
// the answer tokens and EOS, accumulated as sum and token count), then greedy generation of at
// most eval.max_new_tokens tokens from the prompt, decoded and compared with the stored answer
// decoded by the tokenizer (ground: with the stored box; when it is NaN, the box in the answer).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/config.hpp"
#include "fedvlm/data/samples.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "fedvlm/eval/task_metrics.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::eval {

// One generated answer, as scored (TaskMetrics::add_prediction).
struct Prediction {
  std::int64_t row = 0;     // index in `rows`
  std::string task;
  std::string prompt;       // decoded question
  std::string prediction;   // decoded generation
  std::string reference;    // decoded stored answer
  double score = 0.0;       // 1/0 exact match (cls, vqa), IoU (ground), NaN (cap)
};

// Scores `rows` (this rank's rows of the test split, split_range) into a fresh accumulator,
// without reducing. `task_names` is the dataset's task list: rows.task indexes it. Runs under
// NoGradGuard with the model in eval mode (its training flag is restored afterwards). With
// `predictions`, every row's answer is also appended there, in increasing row order.
MetricsAccumulator score_rows(model::VisionLanguageModel& model, const data::Samples& rows,
                              const data::Tokenizer& tokenizer, const std::vector<std::string>& task_names,
                              const EvalConfig& config, const torch::Device& device,
                              std::vector<Prediction>* predictions = nullptr);

// Collective: score_rows on every rank, then MetricsAccumulator::reduce. Returns the table on
// rank 0, an empty table on the others. Every rank must pass the same task_names.
MetricsTable evaluate(model::VisionLanguageModel& model, const data::Samples& rows, const data::Tokenizer& tokenizer,
                      const std::vector<std::string>& task_names, const EvalConfig& config,
                      comm::Communicator& communicator, const torch::Device& device = torch::kCPU);

}  // namespace fedvlm::eval
