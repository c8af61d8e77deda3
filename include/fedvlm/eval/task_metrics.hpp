// Accumulating one evaluation's results per task, on each rank, then across ranks.
//   cls, vqa  exact match after normalize_answer (text.hpp)          -> accuracy
//   cap       (candidate, references) kept for the corpus metrics     -> bleu4, rouge_l, cider
//   ground    IoU of the parsed box with the reference box (box.hpp)  -> iou, acc_iou50
//   every     answer-token cross-entropy as a sum and a token count   -> loss
// Everything but the captions is a sum, so the ranks combine it with one allreduce of a flat
// buffer; the captions are gathered on the root, which alone finishes the corpus metrics.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/eval/box.hpp"
#include "fedvlm/eval/caption_corpus.hpp"
#include "fedvlm/eval/metrics_table.hpp"

namespace fedvlm::eval {

enum class TaskKind { Classification, Caption, Vqa, Grounding };

// "cls", "cap", "vqa", "ground" (data::kTaskNames); throws InputError naming any other.
TaskKind task_kind(std::string_view task);

inline constexpr double kIouThreshold = 0.5;  // acc_iou50

class TaskMetrics {
 public:
  // The summable state, in this order: loss sum, loss tokens, examples, hits (exact matches for
  // cls/vqa, IoU >= 0.5 for ground), IoU sum.
  static constexpr std::size_t kSumCount = 5;
  using Sums = std::array<double, kSumCount>;

  explicit TaskMetrics(std::string task);

  const std::string& task() const { return task_; }
  TaskKind kind() const { return kind_; }
  std::int64_t examples() const { return static_cast<std::int64_t>(sums_[2]); }

  // `loss_sum` is the summed cross-entropy over `tokens` answer tokens.
  void add_loss(double loss_sum, double tokens);
  // One generated answer. For ground, `reference_box` is the stored box; without it the box is
  // parsed from `reference` (which must then hold one). Returns the answer's own score: 1 or 0
  // (cls, vqa: exact match), its IoU (ground), NaN (cap: the caption metrics are corpus-level).
  double add_prediction(std::string_view prediction, std::string_view reference,
                        std::optional<Box> reference_box = std::nullopt);
  // A caption with several references (cap only).
  void add_caption(std::string candidate, std::vector<std::string> references);

  const Sums& sums() const { return sums_; }
  void set_sums(const Sums& sums) { sums_ = sums; }
  const std::vector<CaptionExample>& captions() const { return captions_; }
  void set_captions(std::vector<CaptionExample> captions) { captions_ = std::move(captions); }
  // Adds `other` (same task) as if its examples had come after this one's.
  void merge(const TaskMetrics& other);

  // This task's metrics; those without any example (or without any loss token) are left out.
  std::map<std::string, double> finish() const;

 private:
  std::string task_;
  TaskKind kind_;
  Sums sums_{};
  std::vector<CaptionExample> captions_;
};

// The metrics of every task of one evaluation.
class MetricsAccumulator {
 public:
  // Task names must be known and distinct; every rank must pass the same list.
  explicit MetricsAccumulator(const std::vector<std::string>& tasks);

  TaskMetrics& at(std::string_view task);  // throws Error for a task not in the list
  const std::vector<TaskMetrics>& tasks() const { return tasks_; }
  void merge(const MetricsAccumulator& other);  // same task list

  // Collective: afterwards `root` holds every rank's sums and captions (captions in rank order)
  // and is the one to call finish(); the other ranks keep the summed counts but no captions.
  // Checks first that all ranks hold the same task list, so a mismatch throws on every rank
  // instead of deadlocking.
  void reduce(comm::Communicator& communicator, int root = 0);

  MetricsTable finish() const;

 private:
  std::vector<TaskMetrics> tasks_;
};

}  // namespace fedvlm::eval
