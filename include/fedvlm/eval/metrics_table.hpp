// The result of an evaluation: task -> metric -> value, with the names DESIGN.md section 7 fixes:
// accuracy (cls, vqa), bleu4 / rouge_l / cider (cap), iou / acc_iou50 (ground), loss (every task).
#pragma once

#include <map>
#include <string>

namespace fedvlm::eval {

using MetricsTable = std::map<std::string, std::map<std::string, double>>;

// The console form: one row per task, one column per metric that any task has, "-" where a task
// lacks it, e.g.
//   task    accuracy  bleu4   ...  loss
//   cls     0.8125    -       ...  0.4312
std::string format_metrics_table(const MetricsTable& table);

}  // namespace fedvlm::eval
