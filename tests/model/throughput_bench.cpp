// Not a test: the throughput table of docs/models.md. Run with
//   build-model/tests/test_model --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
#include <gtest/gtest.h>

#include <cstdio>

#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/throughput.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

// The tiny preset's sizes (configs/model/tiny.toml), Fashion-like 1x32x32 images, prompts of
// ~12 tokens and answers of ~2 (the classification/VQA mix), a 1000-id vocabulary.
ModelConfig tiny_preset(const std::string& kind) {
  ModelConfig m;  // config.hpp's defaults are the tiny preset's sizes
  m.kind = kind;
  m.vision_stem = "conv";  // the preset's stem; config.hpp keeps "linear", what bases without the key were
  return m;
}

data::Samples fashion_like(std::int64_t n) {
  data::Samples s;
  s.image_shape = {1, 32, 32};
  Rng rng(1);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t p = 0; p < s.image_shape.numel(); ++p) s.images.push_back(static_cast<std::uint8_t>(rng.below(256)));
    s.task.push_back(0);
    for (int t = 0; t < 10 + i % 5; ++t) s.prompt.push_back(static_cast<std::int32_t>(4 + rng.below(996)));
    s.prompt_ptr.push_back(static_cast<std::int64_t>(s.prompt.size()));
    for (int t = 0; t < 1 + i % 3; ++t) s.answer.push_back(static_cast<std::int32_t>(4 + rng.below(996)));
    s.answer_ptr.push_back(static_cast<std::int64_t>(s.answer.size()));
    s.label.push_back(0);
    for (int k = 0; k < 4; ++k) s.box.push_back(0.0f);
  }
  return s;
}

TEST(ThroughputBench, DISABLED_TinyPresetPerStrategy) {
  const auto samples = fashion_like(16);
  std::vector<std::int64_t> rows(16);
  for (std::int64_t i = 0; i < 16; ++i) rows[i] = i;
  const auto batch = collate_training(samples, rows, {});
  std::printf("threads %d, batch 16, text length %lld\n", torch::get_num_threads(), static_cast<long long>(batch.length()));
  std::printf("| kind | strategy | trainable | samples/s | step ms | frozen vision fwd ms | share |\n");
  for (const std::string kind : {"encoder", "encoder-free"}) {
    for (const auto* name : {"F-C", "F-L", "F-CL", "full"}) {
      const auto strategy = parse_strategy(name);
      if (kind == "encoder-free" && strategy != Strategy::kFull && strategy != Strategy::kLora) continue;
      auto model = build_model(tiny_preset(kind), LoraConfig{}, samples.image_shape, 1000);
      const auto result = measure_throughput(*model, batch, strategy, 20);
      std::printf("| %s | %s | %lld | %.0f | %.1f | %.2f | %.1f%% |\n", kind.c_str(), name,
                  static_cast<long long>(result.trainable), result.samples_per_second, 1e3 * result.step_seconds,
                  1e3 * result.vision_seconds, 100.0 * result.vision_share);
      if (strategy == Strategy::kFull) std::printf("%s\n", describe_parameters(*model, apply_strategy(*model, strategy, 0, 0)).c_str());
    }
  }
}

}  // namespace
}  // namespace fedvlm::model
