// Training-throughput measurement of one model and strategy (docs/models.md's table, and
// `fedvlm bench`): forward + backward steps on one batch, and the share of a step spent in the
// frozen vision encoder's forward (timed alone under NoGradGuard).
#pragma once

#include <cstdint>

#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/strategy.hpp"

namespace fedvlm::model {

class VisionLanguageModel;

struct Throughput {
  double samples_per_second = 0.0;  // forward + backward
  double step_seconds = 0.0;
  double vision_seconds = 0.0;      // frozen vision encoder forward per batch (0 for encoder-free)
  double vision_share = 0.0;        // vision_seconds / step_seconds
  std::int64_t trainable = 0;       // values in the trainable set
};

// Applies `strategy` (round 0) to `model`, runs `warmup` untimed steps, then times `steps`.
Throughput measure_throughput(VisionLanguageModel& model, const Batch& batch, Strategy strategy, std::int64_t steps,
                              std::int64_t warmup = 2);

}  // namespace fedvlm::model
