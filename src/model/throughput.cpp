#include "fedvlm/model/throughput.hpp"

#include <chrono>

#include "fedvlm/model/encoder_vlm.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model {

namespace {

template <class Body>
double seconds_per_call(std::int64_t calls, Body&& body) {
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < calls; ++i) body();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / static_cast<double>(calls);
}

}  // namespace

Throughput measure_throughput(VisionLanguageModel& model, const Batch& batch, Strategy strategy, std::int64_t steps,
                              std::int64_t warmup) {
  const auto set = apply_strategy(model, strategy, /*round=*/0, /*stage1_rounds=*/0);
  model.train();
  auto step = [&] {
    for (auto& p : set.parameters) p.mutable_grad() = torch::Tensor();
    model.loss(batch).backward();
  };
  for (std::int64_t i = 0; i < warmup; ++i) step();
  Throughput result;
  result.trainable = set.numel();
  result.step_seconds = seconds_per_call(steps, step);
  result.samples_per_second = static_cast<double>(batch.size()) / result.step_seconds;
  if (auto* encoder = dynamic_cast<EncoderVlm*>(&model)) {
    torch::NoGradGuard no_grad;
    const auto images = batch.images.to(encoder->vision->positions.scalar_type());
    encoder->vision->forward(images);
    result.vision_seconds = seconds_per_call(steps, [&] { encoder->vision->forward(images); });
    result.vision_share = result.vision_seconds / result.step_seconds;
  }
  for (auto& p : set.parameters) p.mutable_grad() = torch::Tensor();
  return result;
}

}  // namespace fedvlm::model
