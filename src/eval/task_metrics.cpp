#include "fedvlm/eval/task_metrics.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "fedvlm/core/error.hpp"
#include "fedvlm/eval/bleu.hpp"
#include "fedvlm/eval/cider.hpp"
#include "fedvlm/eval/gather_strings.hpp"
#include "fedvlm/eval/rouge.hpp"
#include "fedvlm/eval/text.hpp"

namespace fedvlm::eval {
namespace {

enum SumIndex : std::size_t { kLossSum = 0, kLossTokens = 1, kExamples = 2, kHits = 3, kIouSum = 4 };

// A caption example travels as one string: candidate then references, each as "<bytes>:<text>",
// so any byte may appear in the text.
std::string encode_caption(const CaptionExample& example) {
  std::string encoded;
  const auto append = [&](const std::string& text) { (encoded += std::to_string(text.size()) += ':') += text; };
  append(example.candidate);
  for (const std::string& reference : example.references) append(reference);
  return encoded;
}

CaptionExample decode_caption(const std::string& encoded) {
  std::vector<std::string> parts;
  std::size_t position = 0;
  while (position < encoded.size()) {
    const std::size_t colon = encoded.find(':', position);
    FEDVLM_CHECK(colon != std::string::npos, "corrupt caption record received from another rank at byte {}", position);
    std::size_t length = 0;
    const auto [end, error] = std::from_chars(encoded.data() + position, encoded.data() + colon, length);
    FEDVLM_CHECK(error == std::errc() && end == encoded.data() + colon &&
                     colon + 1 + length <= encoded.size(),
                 "corrupt caption record received from another rank at byte {}", position);
    parts.push_back(encoded.substr(colon + 1, length));
    position = colon + 1 + length;
  }
  FEDVLM_CHECK(parts.size() >= 2, "caption record received from another rank has {} parts", parts.size());
  return CaptionExample{parts.front(), std::vector<std::string>(parts.begin() + 1, parts.end())};
}

// A fingerprint of the task list, 62 bits so that it and its negation fit an int64.
std::int64_t fingerprint(const std::vector<TaskMetrics>& tasks) {
  std::uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (const TaskMetrics& task : tasks) {
    for (char c : task.task() + '\0') hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return static_cast<std::int64_t>(hash >> 2);
}

}  // namespace

TaskKind task_kind(std::string_view task) {
  if (task == "cls") return TaskKind::Classification;
  if (task == "cap") return TaskKind::Caption;
  if (task == "vqa") return TaskKind::Vqa;
  if (task == "ground") return TaskKind::Grounding;
  throw InputError(fmt::format("unknown task \"{}\" (known: cls, cap, vqa, ground)", task));
}

TaskMetrics::TaskMetrics(std::string task) : task_(std::move(task)), kind_(task_kind(task_)) {}

void TaskMetrics::add_loss(double loss_sum, double tokens) {
  FEDVLM_CHECK(tokens >= 0, "task {}: negative loss token count {}", task_, tokens);
  sums_[kLossSum] += loss_sum;
  sums_[kLossTokens] += tokens;
}

double TaskMetrics::add_prediction(std::string_view prediction, std::string_view reference,
                                   std::optional<Box> reference_box) {
  switch (kind_) {
    case TaskKind::Classification:
    case TaskKind::Vqa: {
      const double hit = answers_match(prediction, reference) ? 1 : 0;
      sums_[kExamples] += 1;
      sums_[kHits] += hit;
      return hit;
    }
    case TaskKind::Caption:
      add_caption(std::string(prediction), {std::string(reference)});
      return std::numeric_limits<double>::quiet_NaN();
    case TaskKind::Grounding: {
      if (!reference_box) reference_box = parse_box(reference);
      if (!reference_box) throw InputError(fmt::format("task {}: reference answer \"{}\" holds no box", task_, reference));
      const double iou = prediction_iou(prediction, *reference_box);
      sums_[kExamples] += 1;
      sums_[kHits] += iou >= kIouThreshold ? 1 : 0;
      sums_[kIouSum] += iou;
      return iou;
    }
  }
  throw Error(fmt::format("task {}: unknown task kind", task_));
}

void TaskMetrics::add_caption(std::string candidate, std::vector<std::string> references) {
  FEDVLM_CHECK(kind_ == TaskKind::Caption, "task {} takes no captions", task_);
  FEDVLM_CHECK(!references.empty(), "task {}: caption \"{}\" has no reference", task_, candidate);
  sums_[kExamples] += 1;
  captions_.push_back(CaptionExample{std::move(candidate), std::move(references)});
}

void TaskMetrics::merge(const TaskMetrics& other) {
  FEDVLM_CHECK(other.task_ == task_, "cannot merge metrics of task {} into task {}", other.task_, task_);
  for (std::size_t i = 0; i < kSumCount; ++i) sums_[i] += other.sums_[i];
  captions_.insert(captions_.end(), other.captions_.begin(), other.captions_.end());
}

std::map<std::string, double> TaskMetrics::finish() const {
  std::map<std::string, double> metrics;
  if (sums_[kLossTokens] > 0) metrics["loss"] = sums_[kLossSum] / sums_[kLossTokens];
  const double examples = sums_[kExamples];
  switch (kind_) {
    case TaskKind::Classification:
    case TaskKind::Vqa:
      if (examples > 0) metrics["accuracy"] = sums_[kHits] / examples;
      break;
    case TaskKind::Caption:
      if (!captions_.empty()) {
        metrics["bleu4"] = corpus_bleu4(captions_);
        metrics["rouge_l"] = corpus_rouge_l(captions_);
        metrics["cider"] = corpus_cider_d(captions_);
      }
      break;
    case TaskKind::Grounding:
      if (examples > 0) {
        metrics["iou"] = sums_[kIouSum] / examples;
        metrics["acc_iou50"] = sums_[kHits] / examples;
      }
      break;
  }
  return metrics;
}

MetricsAccumulator::MetricsAccumulator(const std::vector<std::string>& tasks) {
  for (const std::string& task : tasks) {
    const bool duplicate = std::any_of(tasks_.begin(), tasks_.end(), [&](const TaskMetrics& t) { return t.task() == task; });
    if (duplicate) throw InputError(fmt::format("task \"{}\" listed twice for evaluation", task));
    tasks_.emplace_back(task);
  }
}

TaskMetrics& MetricsAccumulator::at(std::string_view task) {
  for (TaskMetrics& metrics : tasks_)
    if (metrics.task() == task) return metrics;
  throw Error(fmt::format("task \"{}\" is not among the evaluated tasks", task));
}

void MetricsAccumulator::merge(const MetricsAccumulator& other) {
  FEDVLM_CHECK(other.tasks_.size() == tasks_.size(), "cannot merge metrics of {} tasks into {}", other.tasks_.size(),
               tasks_.size());
  for (std::size_t i = 0; i < tasks_.size(); ++i) tasks_[i].merge(other.tasks_[i]);
}

void MetricsAccumulator::reduce(comm::Communicator& communicator, int root) {
  // Same task list everywhere? max(v) == -max(-v) holds for each value only when all ranks agree,
  // and every rank sees the same maxima, so all throw together.
  const auto count = static_cast<std::int64_t>(tasks_.size());
  const std::int64_t print = fingerprint(tasks_);
  std::vector<std::int64_t> check = {count, -count, print, -print};
  communicator.allreduce(comm::Buffer{check.data(), check.size(), comm::DType::Int64, false}, comm::ReduceOp::Max);
  FEDVLM_CHECK(check[0] == -check[1] && check[2] == -check[3],
               "ranks evaluate different task lists (this rank has {} tasks, others up to {})", count, check[0]);

  std::vector<double> sums;
  sums.reserve(tasks_.size() * TaskMetrics::kSumCount);
  for (const TaskMetrics& task : tasks_) sums.insert(sums.end(), task.sums().begin(), task.sums().end());
  communicator.allreduce(comm::Buffer{sums.data(), sums.size(), comm::DType::Float64, false}, comm::ReduceOp::Sum);
  for (std::size_t t = 0; t < tasks_.size(); ++t) {
    TaskMetrics::Sums task_sums;
    std::copy_n(sums.begin() + static_cast<std::ptrdiff_t>(t * TaskMetrics::kSumCount), TaskMetrics::kSumCount,
                task_sums.begin());
    tasks_[t].set_sums(task_sums);
  }

  for (TaskMetrics& task : tasks_) {
    if (task.kind() != TaskKind::Caption) continue;
    std::vector<std::string> encoded;
    encoded.reserve(task.captions().size());
    for (const CaptionExample& example : task.captions()) encoded.push_back(encode_caption(example));
    std::vector<CaptionExample> gathered;
    for (const std::string& record : gather_strings(communicator, encoded, root)) gathered.push_back(decode_caption(record));
    task.set_captions(std::move(gathered));
  }
}

MetricsTable MetricsAccumulator::finish() const {
  MetricsTable table;
  for (const TaskMetrics& task : tasks_) {
    auto metrics = task.finish();
    if (!metrics.empty()) table[task.task()] = std::move(metrics);  // a task without examples has no row
  }
  return table;
}

}  // namespace fedvlm::eval
