// Tiny models and in-memory samples for the model tests (no files needed).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/data/samples.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model::testing {

inline constexpr int kVocab = 40;
inline const data::ImageShape kShape{1, 8, 8};

inline ModelConfig tiny_model(const std::string& kind = "encoder") {
  ModelConfig m;
  m.kind = kind;
  m.connector = "mlp2x_gelu";
  m.patch_size = 4;
  m.vision_dim = 16;
  m.vision_layers = 2;
  m.vision_heads = 2;
  m.vision_mlp_ratio = 2;
  m.vision_select_layer = -1;
  m.dim = 32;
  m.layers = 2;
  m.heads = 4;
  m.kv_heads = 2;
  m.ffn_dim = 48;
  m.max_seq_len = 64;
  return m;
}

inline LoraConfig tiny_lora(double dropout = 0.0) {
  LoraConfig l;
  l.rank = 4;
  l.alpha = 8.0;
  l.dropout = dropout;
  l.targets = {"q", "k", "v", "o", "gate", "up", "down"};
  return l;
}

// n samples with random pixels, prompts of 1 + i % 5 tokens and answers of 1 + i % 3 tokens
// (ids in [4, kVocab), 0..3 being pad, bos, eos, unk), labels i % 3.
inline data::Samples make_samples(std::int64_t n, std::uint64_t seed = 5, data::ImageShape shape = kShape) {
  data::Samples s;
  s.image_shape = shape;
  Rng rng(seed);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t p = 0; p < shape.numel(); ++p) s.images.push_back(static_cast<std::uint8_t>(rng.below(256)));
    s.task.push_back(0);
    for (std::int64_t t = 0; t < 1 + i % 5; ++t) s.prompt.push_back(static_cast<std::int32_t>(4 + rng.below(kVocab - 4)));
    s.prompt_ptr.push_back(static_cast<std::int64_t>(s.prompt.size()));
    for (std::int64_t t = 0; t < 1 + i % 3; ++t) s.answer.push_back(static_cast<std::int32_t>(4 + rng.below(kVocab - 4)));
    s.answer_ptr.push_back(static_cast<std::int64_t>(s.answer.size()));
    s.label.push_back(static_cast<std::int32_t>(i % 3));
    for (int k = 0; k < 4; ++k) s.box.push_back(std::numeric_limits<float>::quiet_NaN());
  }
  return s;
}

// A training batch of make_samples(4), every row.
inline Batch four_sample_batch() {
  static const auto samples = make_samples(4);
  const std::vector<std::int64_t> rows = {0, 1, 2, 3};
  return collate_training(samples, rows, {});
}

// Every parameter redrawn from N(0, std) (fixed generator): a model whose greedy choices are
// far from ties, unlike the 0.02-std initialization.
inline void randomize(VisionLanguageModel& model, double std, std::uint64_t seed) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    p.copy_(torch::empty(p.sizes(), torch::kFloat64).normal_(0.0, std, generator).to(p.scalar_type()));
  }
}

}  // namespace fedvlm::model::testing
