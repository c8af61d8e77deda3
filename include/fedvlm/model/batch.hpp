// Batches: rows of data::Samples turned into tensors for the model.
//
// Training batches (collate_training) are right-padded:
//   tokens  = BOS prompt answer EOS pad...
//   labels  = -100 on BOS, prompt and padding; the token itself on answer tokens and EOS
// (labels are aligned with tokens; the model shifts them: position t predicts token t + 1).
// Prompt batches (collate_prompts, for generation) are left-padded: pad... BOS prompt, so every
// row's last prompt token sits in the last column and new tokens append in lockstep; the model
// gives each row its own positions (counting real tokens only) and masks the padding as keys.
// Images: uint8 / 255, then normalized to [-1, 1] ((x - 0.5) / 0.5).
#pragma once

#include <cstdint>
#include <span>

#include <torch/torch.h>

#include "fedvlm/data/samples.hpp"

namespace fedvlm::model {

inline constexpr std::int64_t kIgnoreIndex = -100;

struct SpecialTokens {
  std::int32_t pad = 0;
  std::int32_t bos = 1;
  std::int32_t eos = 2;
};

struct Batch {
  torch::Tensor images;          // float32 [B, C, H, W], normalized
  torch::Tensor tokens;          // int64 [B, T]
  torch::Tensor labels;          // int64 [B, T]; undefined in prompt batches
  torch::Tensor attention_mask;  // bool [B, T]: true on real (non-padding) tokens
  bool left_padded = false;      // true for prompt batches

  std::int64_t size() const { return tokens.defined() ? tokens.size(0) : 0; }
  std::int64_t length() const { return tokens.defined() ? tokens.size(1) : 0; }
  Batch to(const torch::Device& device) const;  // non-blocking copies where possible
};

// `rows` index `samples`; every row must exist. Throws InputError on an empty row set.
Batch collate_training(const data::Samples& samples, std::span<const std::int64_t> rows, const SpecialTokens& special);
Batch collate_prompts(const data::Samples& samples, std::span<const std::int64_t> rows, const SpecialTokens& special);

// Training batches of several clients as one, in order: each right-padded to the longest.
Batch concat_training(std::span<const Batch> batches, const SpecialTokens& special);

// The normalized float images of `rows`, [B, C, H, W].
torch::Tensor collate_images(const data::Samples& samples, std::span<const std::int64_t> rows);

}  // namespace fedvlm::model
