// Evaluation of the current model on the test split, divided over ranks; the table is
// complete on rank 0 (other ranks get their partial sums).
#pragma once

#include <filesystem>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/config.hpp"
#include "fedvlm/eval/metrics_table.hpp"
#include "fedvlm/sim/setup.hpp"

namespace fedvlm::sim {

// The test samples evaluated: the first data.max_test_samples (or all) of the test split.
std::int64_t test_samples_evaluated(const Config& config, Workbench& workbench);

// Evaluates `workbench.model` over this rank's contiguous share of the test split. With
// `local_only`, this rank evaluates the whole test split alone (no collective). With
// `predictions_file` (not with local_only), rank 0 also writes every evaluated sample's answer
// there, atomically, as JSON lines in test-split order:
//   {"row": i, "task": "cls", "prediction": "...", "reference": "...", "score": 1.0}
// score: 1/0 exact match (cls, vqa), IoU (ground), null (cap: its metrics are corpus-level).
eval::MetricsTable evaluate_on_test(const Config& config, Workbench& workbench, comm::Communicator& comm,
                                    bool local_only = false, const std::filesystem::path& predictions_file = {});

}  // namespace fedvlm::sim
